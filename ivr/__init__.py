"""The voice menu: what the caller hears and presses, from the answer to the menu's end."""
