"""The owner and admin JSON API: the auth kernel, then one module per resource."""
