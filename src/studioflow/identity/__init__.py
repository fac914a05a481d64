"""Users, sessions and tokens, one-time codes, magic links, OAuth, API keys, audit."""
