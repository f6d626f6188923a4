"""Customer channels (voice, email, chat): turn the outside world into tasks."""
