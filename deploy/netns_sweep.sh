#   netns_sweep.sh - sourced by deploy/netns.sh and tests/netns_fault.sh
#
#   netns_sweep PREFIX: delete the network namespaces PREFIX<pid>-* of
#   earlier runs whose <pid> is gone.  A run killed before its EXIT trap
#   could tear down (a ctest timeout kills with SIGKILL) leaves them
#   behind; a live run's namespaces are kept.  Their processes are
#   killed first.  Cannot fail (set -e safe).

netns_sweep () {
    local prefix=$1 ns pid
    for ns in $(ip netns list | awk '{ print $1 }' | grep -E "^$prefix[0-9]+-"); do
        pid=${ns#"$prefix"}; pid=${pid%%-*}
        kill -0 "$pid" 2>/dev/null && continue
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
}
