"""The node side: one ``benchbase run`` prepares, records, launches and watches the ranks of one node."""
