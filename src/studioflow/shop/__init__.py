"""The marketplace (issue 17): sellers, products and variants, carts, orders and what
sellers earn from them."""
