"""The ``emox`` command line: parses arguments, calls :mod:`emox_core`, prints results."""
