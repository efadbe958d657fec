"""Source of the small Lambda triggers the stacks deploy inline."""
