"""What crosses the network between GroupShare processes: the tracker list, names, API errors, tokens, frames;
and the one-process-per-data-directory lock both programs take (`dir_lock`)."""
