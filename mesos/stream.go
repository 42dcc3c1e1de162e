package mesos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	mclient "github.com/mesos/mesos-go/api/v1/lib/client"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
)

// streamUnmarshaler is a response target that reads the body as it
// arrives instead of from one buffer holding all of it.
type streamUnmarshaler interface {
	unmarshalFrom(r io.Reader) error
}

// streamingResponses hands a successful JSON answer's body to a
// streamUnmarshaler target; other targets, errors and empty answers go
// through mesos-go's own handling.
func streamingResponses(cli *httpcli.Client) httpcli.ResponseHandler {
	return func(res *http.Response, rc mclient.ResponseClass, err error) (mesoslib.Response, error) {
		if err != nil || res.StatusCode != http.StatusOK || rc == mclient.ResponseClassNoData || rc == mclient.ResponseClassStreaming {
			return cli.HandleResponse(res, rc, err)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			res.Body.Close()
			return nil, httpcli.ProtocolError(fmt.Sprintf("unexpected content type: %q", ct))
		}
		return &httpcli.Response{Closer: res.Body, Header: res.Header, Decoder: encoding.DecoderFunc(func(u encoding.Unmarshaler) error {
			if s, ok := u.(streamUnmarshaler); ok {
				return s.unmarshalFrom(res.Body)
			}
			b, err := io.ReadAll(res.Body)
			if err != nil {
				return err
			}
			return json.Unmarshal(b, u)
		})}, nil
	}
}

// unmarshalFrom decodes a GET_STATE answer one task, agent and framework
// at a time: memory stays that of the result, whatever the answer's size.
func (s *leanState) unmarshalFrom(r io.Reader) error {
	dec := json.NewDecoder(r)
	return object(dec, func(key string) error {
		if key != "get_state" {
			return skip(dec)
		}
		return s.GetState.decode(dec)
	})
}

// decode reads a GetState object from dec.
func (gs *leanGetState) decode(dec *json.Decoder) error {
	task := func(t leanTask) *Task { return t.task(gs.pool) }
	return object(dec, func(key string) error {
		switch key {
		case "get_tasks":
			return object(dec, func(key string) error {
				switch key {
				case "tasks":
					return array(dec, &gs.Tasks, task)
				case "completed_tasks":
					return array(dec, &gs.CompletedTasks, task)
				case "unreachable_tasks":
					return array(dec, &gs.UnreachableTasks, task)
				}
				return skip(dec)
			})
		case "get_agents":
			return object(dec, func(key string) error {
				if key == "agents" {
					return array(dec, &gs.Agents, func(a leanAgent) leanAgent { return a })
				}
				return skip(dec)
			})
		}
		return skip(dec)
	})
}

// object reads a JSON object, calling field for each key with the decoder
// placed before its value; field must consume the value.
func object(dec *json.Decoder, field func(key string) error) error {
	if null, err := delimOrNull(dec, '{'); null || err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("GET_STATE: object key %v is not a string", t)
		}
		if err := field(key); err != nil {
			return err
		}
	}
	return delim(dec, '}')
}

// array decodes a JSON array element by element as L, appending each
// one's conversion to out.
func array[L, T any](dec *json.Decoder, out *[]T, conv func(L) T) error {
	if null, err := delimOrNull(dec, '['); null || err != nil {
		return err
	}
	for dec.More() {
		var x L
		if err := dec.Decode(&x); err != nil {
			return err
		}
		*out = append(*out, conv(x))
	}
	return delim(dec, ']')
}

// skip consumes one value without buffering a big one whole: an object
// member by member, an array element by element, each element read as
// one raw value by the decoder's scanner. (Token by token, skipping the
// frameworks and executors of a SUBSCRIBED at 100,000 applications made
// it take 55 s instead of 37.)
func skip(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch t {
	case json.Delim('{'):
		for dec.More() {
			if _, err := dec.Token(); err != nil { // the member's name
				return err
			}
			if err := skip(dec); err != nil {
				return err
			}
		}
		return delim(dec, '}')
	case json.Delim('['):
		for dec.More() {
			var element json.RawMessage
			if err := dec.Decode(&element); err != nil {
				return err
			}
		}
		return delim(dec, ']')
	}
	return nil // a string, number, true, false or null: the token was all of it
}

// delimOrNull reads the opening delimiter of a value that may be null.
func delimOrNull(dec *json.Decoder, want json.Delim) (null bool, err error) {
	t, err := dec.Token()
	if err != nil {
		return false, err
	}
	if t == nil {
		return true, nil
	}
	if t != want {
		return false, fmt.Errorf("GET_STATE: got %v, want %v", t, want)
	}
	return false, nil
}

func delim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("GET_STATE: got %v, want %v", t, want)
	}
	return nil
}
