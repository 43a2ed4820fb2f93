"""What departments publish: announcements, their lifecycle and every channel that shows them."""
