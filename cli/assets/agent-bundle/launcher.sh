#!/bin/sh
# edgefleet-agent launcher from the agent bundle: runs the agent installed next to it with the
# node flags it is measured with (AGENT_NODE_FLAGS, filled in when the bundle is built).
here=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
exec node @NODE_FLAGS@ "$here/lib/node_modules/@edgefleet/agent/bin/edgefleet-agent.js" "$@"
