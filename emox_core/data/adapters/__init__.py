"""One module per dataset family; each turns a raw download into manifest samples."""
