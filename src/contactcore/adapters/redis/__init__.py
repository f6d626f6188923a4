"""Redis: key names, Lua scripts, the event stream."""
