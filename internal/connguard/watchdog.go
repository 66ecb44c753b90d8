package connguard

import (
	"bufio"
	"bytes"
	"cmp"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Watchdog sheds connections of the listeners the appliance does not own
// (the collector's OTLP receivers, health, self-metrics: no hook lets us
// cap them, see docs/decisions.md) when the process's open descriptors
// pass HighWater: the newest accepted connections on those listeners are
// shut down (shutdown(2), never close(2), so the server that owns the
// descriptor closes it itself and no number is reused under its feet)
// until LowWater is reached. Its own descriptors (/proc/self/fd,
// /proc/net/tcp{,6}) are opened once at start, so it keeps working when
// the process has none left.
type Watchdog struct {
	HighWater, LowWater int
	Interval            time.Duration
	Logf                func(format string, args ...any)

	fdDir      *os.File
	tcp4, tcp6 *os.File
	shed       atomic.Int64
	stop, done chan struct{}
}

// NewWatchdog sizes the watermarks from the descriptor limit: HighWater
// leaves Reserve(limit) free for the storage and queues.
func NewWatchdog(logf func(string, ...any)) (*Watchdog, error) {
	limit := noFileLimit()
	high := int(limit - min(limit, Reserve(limit)))
	w := &Watchdog{HighWater: high, LowWater: high - high/8, Interval: 20 * time.Millisecond, Logf: logf}
	var err error
	if w.fdDir, err = os.Open("/proc/self/fd"); err != nil {
		return nil, err
	}
	w.tcp4, _ = os.Open("/proc/net/tcp")
	w.tcp6, _ = os.Open("/proc/net/tcp6")
	return w, nil
}

// Start runs the watchdog until Stop.
func (w *Watchdog) Start() {
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.Interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.Check()
			}
		}
	}()
}

// Stop ends the watchdog and closes its files.
func (w *Watchdog) Stop() {
	if w.stop != nil {
		close(w.stop)
		<-w.done
	}
	for _, f := range []*os.File{w.fdDir, w.tcp4, w.tcp6} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// Shed is how many connections the watchdog has shut down.
func (w *Watchdog) Shed() int64 { return w.shed.Load() }

// Check sheds connections if the open descriptors are over HighWater and
// returns how many it shut down.
func (w *Watchdog) Check() int {
	fds, err := w.openFDs()
	if err != nil || len(fds) <= w.HighWater {
		return 0
	}
	want := len(fds) - w.LowWater
	socks := map[uint64]int{} // inode → descriptor
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			continue
		}
		if in, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(in, "]"), 10, 64); err == nil {
				socks[n] = fd
			}
		}
	}
	var entries []tcpEntry
	for _, f := range []*os.File{w.tcp4, w.tcp6} {
		entries = append(entries, readTCP(f)...)
	}
	listening := map[int]bool{}
	for _, e := range entries {
		if _, ours := socks[e.inode]; ours && e.state == tcpListen {
			listening[e.localPort] = true
		}
	}
	var victims []tcpEntry
	for _, e := range entries {
		if _, ours := socks[e.inode]; ours && e.state != tcpListen && listening[e.localPort] && !isOwned(e.localPort) {
			victims = append(victims, e)
		}
	}
	// Newest first: inode numbers grow with socket creation, and a flood's
	// connections are the newest while it lasts.
	slices.SortFunc(victims, func(a, b tcpEntry) int { return cmp.Compare(b.inode, a.inode) })
	shed := 0
	for _, v := range victims {
		if shed >= want {
			break
		}
		fd := socks[v.inode]
		// The descriptor may have been closed and reused since it was
		// read: shut it down only if it still is that socket.
		if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err != nil ||
			target != "socket:["+strconv.FormatUint(v.inode, 10)+"]" {
			continue
		}
		if syscall.Shutdown(fd, syscall.SHUT_RDWR) == nil {
			shed++
		}
	}
	if shed > 0 {
		w.shed.Add(int64(shed))
		if w.Logf != nil {
			w.Logf("connguard: %d open file descriptors, over %d (limit %d less the storage reserve): shut down the %d newest connections of the collector's listeners", len(fds), w.HighWater, noFileLimit(), shed)
		}
	}
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

const tcpListen = 0x0A

type tcpEntry struct {
	localPort int
	state     int
	inode     uint64
}

// readTCP parses /proc/net/tcp or tcp6: "sl local rem st ... uid timeout inode".
func readTCP(f *os.File) []tcpEntry {
	if f == nil {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	var out []tcpEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		_, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		port, err1 := strconv.ParseUint(portHex, 16, 16)
		state, err2 := strconv.ParseUint(fields[3], 16, 8)
		inode, err3 := strconv.ParseUint(fields[9], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || inode == 0 {
			continue
		}
		out = append(out, tcpEntry{localPort: int(port), state: int(state), inode: inode})
	}
	return out
}
