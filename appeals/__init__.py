"""What residents send us: intake, keywords, threading, routing, deadlines, replies and statistics."""
