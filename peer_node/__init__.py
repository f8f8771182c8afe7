"""A GroupShare peer node: shares local files with its groups, downloads from many peers at once."""
