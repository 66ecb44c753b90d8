package iec104sim

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/internal/iec104/outstation"
)

// Handler is the control endpoint (tests and operators drive faults
// with it). Every request names the outstation by index (?os=0):
//
//	POST /set?os=0&ca=1&ioa=1000&type=36&value=4.5[&time=RFC3339Nano][&quality=128]  a spontaneous change
//	POST /drop?os=0                       close the outstation's connections
//	POST /fault?os=0&name=NAME&on=true    NAME: no_testfr, no_startdt, wrong_seq, malformed, ignore_k, silent
//	POST /burst?os=0&n=100                n spontaneous changes at once (with ignore_k: beyond k)
//	GET  /stats?os=0                      connections, interrogations, ... as text
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	get := func(w http.ResponseWriter, r *http.Request) (*Outstation, bool) {
		i, err := strconv.Atoi(r.URL.Query().Get("os"))
		if err != nil || i < 0 || i >= len(s.Outstations) {
			http.Error(w, "os: an outstation index is required", http.StatusBadRequest)
			return nil, false
		}
		return s.Outstations[i], true
	}
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		o, ok := get(w, r)
		if !ok {
			return
		}
		q := r.URL.Query()
		ca, err1 := strconv.Atoi(q.Get("ca"))
		ioa, err2 := strconv.Atoi(q.Get("ioa"))
		typ, err3 := strconv.Atoi(q.Get("type"))
		v, err4 := strconv.ParseFloat(q.Get("value"), 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !iec104.TypeID(typ).Known() {
			http.Error(w, "ca, ioa, type (a known type id) and value are required numbers", http.StatusBadRequest)
			return
		}
		p := outstation.Point{CA: uint16(ca), IOA: uint32(ioa), Type: iec104.TypeID(typ), Value: v}
		if ts := q.Get("time"); ts != "" {
			t, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				http.Error(w, "time: "+err.Error(), http.StatusBadRequest)
				return
			}
			p.Time = t
		}
		if qs := q.Get("quality"); qs != "" {
			n, err := strconv.Atoi(qs)
			if err != nil || n < 0 || n > 255 {
				http.Error(w, "quality: 0..255", http.StatusBadRequest)
				return
			}
			p.Quality = iec104.Quality(n)
		}
		o.Server.Set(p)
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		if o, ok := get(w, r); ok {
			o.Server.DropLinks()
		}
	})
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		o, ok := get(w, r)
		if !ok {
			return
		}
		if err := o.SetFault(r.URL.Query().Get("name"), r.URL.Query().Get("on") != "false"); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /burst", func(w http.ResponseWriter, r *http.Request) {
		o, ok := get(w, r)
		if !ok {
			return
		}
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 || n > 100000 {
			http.Error(w, "n: 1..100000", http.StatusBadRequest)
			return
		}
		pts := o.Server.Points()
		for i := range n {
			p := pts[i%len(pts)]
			p.Time = time.Time{}
			o.Server.Set(p)
		}
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		if o, ok := get(w, r); ok {
			st := o.Server.Stats()
			fmt.Fprintf(w, "connections %d\nopen %d\ninterrogations %d\ncounter_requests %d\nclock_syncs %d\nspontaneous %d\n",
				st.Connections, o.Server.Connections(), st.Interrogations, st.CounterRequests, st.ClockSyncs, st.Spontaneous)
		}
	})
	return mux
}

// SetFault switches a fault by name: no_testfr, no_startdt, wrong_seq
// (the next I frame), malformed (before the next I frame), ignore_k, silent.
func (o *Outstation) SetFault(name string, on bool) error {
	f := &o.Server.Faults
	switch name {
	case "no_testfr":
		f.IgnoreTestFR.Store(on)
	case "no_startdt":
		f.IgnoreStartDT.Store(on)
	case "wrong_seq":
		f.WrongSeq.Store(on)
	case "malformed":
		f.Malformed.Store(on)
	case "ignore_k":
		f.IgnoreK.Store(on)
	case "silent":
		f.Silent.Store(on)
	default:
		return fmt.Errorf("unknown fault %q (no_testfr, no_startdt, wrong_seq, malformed, ignore_k, silent)", name)
	}
	return nil
}
