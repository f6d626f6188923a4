"""The Asterisk sandbox: Debian root filesystem with Asterisk 22, run under chroot."""
