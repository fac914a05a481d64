"""AI studio: workflow templates, workflows, batch executions, providers."""
