"""One router per view family."""
