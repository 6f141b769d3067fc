"""Tools for developers and operators; the product never imports them."""
