"""What crosses the network between GroupShare processes: the tracker list, names, API errors, tokens, frames."""
