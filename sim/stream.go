package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// message is a mesos-go type: JSON through its MarshalJSON, protobuf through
// its gogo Marshal.
type message interface {
	Marshal() ([]byte, error)
}

// encoding is a negotiated media type.
type encoding struct{ proto bool }

func (e encoding) contentType() string {
	if e.proto {
		return "application/x-protobuf"
	}
	return "application/json"
}

func (e encoding) marshal(m message) ([]byte, error) {
	if e.proto {
		return m.Marshal()
	}
	return masterJSON(m)
}

// stream is one RecordIO event stream (an operator or scheduler SUBSCRIBE).
type stream struct {
	id     string
	enc    encoding
	events chan []byte
	done   chan struct{}
	once   sync.Once
	// stalled: the connection stays open but nothing more is written
	// (a master that hangs, a half-open connection).
	stalled atomic.Bool
}

func newStream(id string, enc encoding) *stream {
	return &stream{id: id, enc: enc, events: make(chan []byte, 4096), done: make(chan struct{})}
}

// send queues an event; a consumer too slow to keep up is disconnected, as
// Mesos does when its socket buffer fills.
func (s *stream) send(m message) {
	b, err := s.enc.marshal(m)
	if err != nil {
		return
	}
	select {
	case <-s.done:
	case s.events <- b:
	default:
		s.close()
	}
}

func (s *stream) close() { s.once.Do(func() { close(s.done) }) }

// serve writes the stream's events as RecordIO ("<length>\n<record>") until
// the stream is closed or the client goes away; heartbeat makes the
// periodic HEARTBEAT event.
func (s *stream) serve(w http.ResponseWriter, r *http.Request, interval time.Duration, heartbeat func() message) {
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", s.enc.contentType())
	if s.id != "" {
		w.Header().Set("Mesos-Stream-Id", s.id)
	}
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	write := func(b []byte) bool {
		if s.stalled.Load() {
			return true // silently swallowed
		}
		if _, err := fmt.Fprint(w, strconv.Itoa(len(b))+"\n"); err != nil {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for {
		select {
		case b := <-s.events:
			if !write(b) {
				s.close()
				return
			}
		case <-tick.C:
			b, err := s.enc.marshal(heartbeat())
			if err != nil || !write(b) {
				s.close()
				return
			}
		case <-s.done:
			// Drain what was queued before the close, then end the stream.
			for {
				select {
				case b := <-s.events:
					if !write(b) {
						return
					}
				default:
					return
				}
			}
		case <-r.Context().Done():
			s.close()
			return
		}
	}
}
