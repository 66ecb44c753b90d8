// Package freeport picks loopback ports for test and testbench processes
// below the kernel's ephemeral range (32768 and up on Linux): a port taken
// from that range with :0 and released can be handed to any outgoing
// connection before the child binds it, which made starts fail with
// "address already in use" now and then.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
)

const (
	low  = 20000
	high = 32767 // below net.ipv4.ip_local_port_range's usual start
)

var (
	mu    sync.Mutex
	given = map[int]bool{} // never the same port twice in one process
)

// Addr returns 127.0.0.1:<port> of a port that was free just now, picked at
// random (so parallel test processes rarely meet) from 20000–32767.
func Addr() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 500 {
		p := low + rand.IntN(high-low+1)
		if given[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		given[p] = true
		return l.Addr().String(), nil
	}
	return "", fmt.Errorf("freeport: no free port in %d-%d", low, high)
}
