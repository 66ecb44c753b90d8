package connguard

import (
	"cmp"
	"io"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Watchdog guards the listeners the appliance does not own (the
// collector's OTLP receivers, health, self-metrics: no hook lets us cap
// their Accept, see docs/decisions.md) through their listening sockets and
// the connections accepted on them:
//
//   - their accept queue is kept short (listen(2) again with Backlog), so
//     at most that many finished handshakes wait to be accepted in a burst;
//   - once GateAt descriptors are open, their accept queue is closed
//     (backlog 0: new handshakes are not completed, clients retry their
//     SYN) until the count falls under half of GateAt;
//   - past HighWater, their newest accepted connections are shut down
//     (shutdown(2), never close(2): the server that owns the descriptor
//     closes it itself, so no number is reused under its feet) down to
//     LowWater.
//
// Its one descriptor (/proc/self/fd) is opened at start, so it keeps
// working when the process has none left.
type Watchdog struct {
	HighWater, LowWater, GateAt int
	// Backlog is the accept queue of a guarded listener while it is open.
	Backlog int
	// Interval between counts; FastInterval while the gate is closed;
	// SlowInterval while fewer than an eighth of GateAt are open (reading
	// /proc/self/fd costs about 0.2 µs per descriptor: at 10 ms with 500
	// RTU connections that was 40 % of a polling appliance's CPU, while
	// a flood from there to HighWater needs thousands of connections
	// within one slow interval).
	Interval, FastInterval, SlowInterval time.Duration
	Logf                                 func(format string, args ...any)

	fdDir      *os.File
	shed       atomic.Int64
	gated      bool
	ticks      int
	listeners  map[uint64]int // guarded listening sockets: inode → backlog set
	stop, done chan struct{}
}

// NewWatchdog sizes the watermarks from the descriptor limit: HighWater
// leaves Reserve(limit) free for the storage and queues, the gate closes
// at half of it.
func NewWatchdog(logf func(string, ...any)) (*Watchdog, error) {
	limit := noFileLimit()
	high := int(limit - min(limit, Reserve(limit)))
	// A burst from a full accept queue must fit in the reserve: a quarter
	// of it, 64 to 4096 (the kernel's usual maximum).
	backlog := int(min(max(Reserve(limit)/4, 64), 4096))
	w := &Watchdog{HighWater: high, LowWater: high / 2, GateAt: high / 2, Backlog: backlog,
		Interval: 10 * time.Millisecond, FastInterval: time.Millisecond, SlowInterval: 100 * time.Millisecond, Logf: logf,
		listeners: map[uint64]int{}}
	var err error
	if w.fdDir, err = os.Open("/proc/self/fd"); err != nil {
		return nil, err
	}
	return w, nil
}

// Start runs the watchdog until Stop.
func (w *Watchdog) Start() {
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTimer(w.Interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				open, _ := w.Check()
				t.Reset(w.nextInterval(open))
			}
		}
	}()
}

// nextInterval is the wait before the next count after one that found
// open descriptors.
func (w *Watchdog) nextInterval(open int) time.Duration {
	switch {
	case w.gated:
		return w.FastInterval
	case w.SlowInterval > 0 && open < w.GateAt/8:
		return w.SlowInterval
	}
	return w.Interval
}

// Stop ends the watchdog and closes its files.
func (w *Watchdog) Stop() {
	if w.stop != nil {
		close(w.stop)
		<-w.done
	}
	if w.fdDir != nil {
		_ = w.fdDir.Close()
	}
}

// Shed is how many connections the watchdog has shut down.
func (w *Watchdog) Shed() int64 { return w.shed.Load() }

// Gated reports whether the guarded listeners' accept queues are closed.
func (w *Watchdog) Gated() bool { return w.gated }

// sock is a TCP socket of the process.
type sock struct {
	fd        int
	inode     uint64
	port      int
	listening bool
}

// Check counts the open descriptors, sets the guarded listeners' accept
// queues and sheds connections over HighWater; it returns how many
// descriptors were open and how many connections it shut down. Not safe
// for concurrent use (Start runs it from one goroutine).
func (w *Watchdog) Check() (open, shed int) {
	fds, err := w.openFDs()
	if err != nil {
		return 0, 0
	}
	open = len(fds)
	w.ticks++
	// The sockets are looked at when something is to be done, and every
	// 100 checks to find listeners that started since (about 1 s).
	gate := open >= w.GateAt || (w.gated && open >= w.GateAt/2)
	if open <= w.HighWater && gate == w.gated && w.ticks%100 != 1 {
		return open, 0
	}
	socks := scanSockets(fds)
	listening := map[int]bool{}
	seen := map[uint64]bool{}
	for _, sk := range socks {
		if !sk.listening {
			continue
		}
		listening[sk.port] = true
		if isOwned(sk.port) {
			continue
		}
		seen[sk.inode] = true
		backlog := w.Backlog
		if gate {
			backlog = 0
		}
		if w.listeners[sk.inode] != backlog+1 && unix.Listen(sk.fd, backlog) == nil {
			w.listeners[sk.inode] = backlog + 1 // +1: the zero value means "not set yet"
		}
	}
	for in := range w.listeners {
		if !seen[in] {
			delete(w.listeners, in)
		}
	}
	if gate != w.gated {
		w.gated = gate
		if w.Logf != nil {
			if gate {
				w.Logf("connguard: %d of %d file descriptors open: the collector's listeners accept no new connections until it falls under %d", open, noFileLimit(), w.GateAt/2)
			} else {
				w.Logf("connguard: %d file descriptors open: the collector's listeners accept connections again", open)
			}
		}
	}
	if open > w.HighWater {
		shed = w.shedFrom(socks, listening, open-w.LowWater)
		if shed > 0 && w.Logf != nil {
			w.Logf("connguard: %d open file descriptors, over %d (limit %d less the storage reserve): shut down the %d newest connections of the collector's listeners", open, w.HighWater, noFileLimit(), shed)
		}
	}
	return open, shed
}

// scanSockets looks at each descriptor with syscalls (fstat, getsockname,
// SO_ACCEPTCONN) rather than /proc/net/tcp, whose size grows with a flood.
func scanSockets(fds []int) []sock {
	var socks []sock
	for _, fd := range fds {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			continue
		}
		if t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_STREAM {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			continue
		}
		port := 0
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			port = a.Port
		case *unix.SockaddrInet6:
			port = a.Port
		default:
			continue
		}
		acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if err != nil {
			continue
		}
		socks = append(socks, sock{fd: fd, inode: st.Ino, port: port, listening: acc == 1})
	}
	return socks
}

// shedFrom shuts down up to want of the newest connections accepted on
// listening ports of the process that it does not own.
func (w *Watchdog) shedFrom(socks []sock, listening map[int]bool, want int) int {
	var victims []sock
	for _, sk := range socks {
		if !sk.listening && listening[sk.port] && !isOwned(sk.port) {
			victims = append(victims, sk)
		}
	}
	// Newest first: socket inode numbers grow with creation, and a flood's
	// connections are the newest while it lasts.
	slices.SortFunc(victims, func(a, b sock) int { return cmp.Compare(b.inode, a.inode) })
	shed := 0
	for _, v := range victims {
		if shed >= want {
			break
		}
		// The descriptor may have been closed and reused since it was
		// read: shut it down only if it still is that socket.
		var st unix.Stat_t
		if unix.Fstat(v.fd, &st) != nil || st.Ino != v.inode {
			continue
		}
		if unix.Shutdown(v.fd, unix.SHUT_RDWR) == nil {
			shed++
		}
	}
	w.shed.Add(int64(shed))
	return shed
}

func (w *Watchdog) openFDs() ([]int, error) {
	if _, err := w.fdDir.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	names, err := w.fdDir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	fds := make([]int, 0, len(names))
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}
