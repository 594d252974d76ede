"""One module per database driver; importing this package imports no driver."""
