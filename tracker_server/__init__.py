"""The GroupShare tracker: users, groups, join requests, shared files, live peers; replication and failover."""
