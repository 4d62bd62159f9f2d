"""What the PBX does by itself while the controller is away: the menu compiled to dialplan,
and a FastAGI service for the few decisions that need data."""
