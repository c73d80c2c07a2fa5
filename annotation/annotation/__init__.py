"""The human-in-the-loop bridge to Label Studio (``annotation-sync run``)."""
