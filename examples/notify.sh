#!/bin/sh
# keepalived-compatible notify hook: called as
#   notify.sh INSTANCE|GROUP <name> <MASTER|BACKUP|FAULT|STOP> <priority>
# Install root-owned, mode 0755, in a root-owned directory (script security).
logger -t hadirector-notify -- "$1 $2 is now $3 (priority $4)"
