"""From findings to the egress report: receiving hosts, suppressions, firewall logs, rules."""
