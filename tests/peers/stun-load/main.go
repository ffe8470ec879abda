// stun-load: an independent closed-window STUN load generator (Go, the
// standard library and Debian's golang.org/x/net), for natscope's serve
// benchmark. Keeps -window Binding requests outstanding on each of -sockets
// UDP sockets towards -server, replaces each answered (Binding success with
// a matching transaction id) or lost (unanswered for -loss) request with a
// new one, and after -warmup counts answers for -duration. Prints one JSON
// object.
//
// -batch (default): recvmmsg/sendmmsg through x/net's ipv4.PacketConn, so
// the generator costs less per request than a server answering one datagram
// per system call. -batch=false: one write and one read system call per
// request.
//
// Loopback use only: -server must be a 127.0.0.0/8 address.
package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

const magic = 0x2112a442

type result struct {
	Server     string  `json:"server"`
	Mode       string  `json:"mode"`
	Sockets    int     `json:"sockets"`
	Window     int     `json:"window"`
	Seconds    float64 `json:"seconds"`
	Answers    uint64  `json:"answers"`
	PerSecond  float64 `json:"answers_per_sec"`
	Lost       uint64  `json:"lost"`
	Unmatched  uint64  `json:"unmatched"`
	GoMaxProcs int     `json:"gomaxprocs"`
}

// counters shared by all sockets.
type counters struct {
	counting  atomic.Bool
	answers   atomic.Uint64
	lost      atomic.Uint64
	unmatched atomic.Uint64
}

// client is one socket's window of outstanding requests.
type client struct {
	c       *net.UDPConn
	mu      sync.Mutex
	pending map[[12]byte]time.Time
	prefix  [4]byte
	counter uint64
	k       *counters
}

// next fills req (20 bytes) with a new Binding request and records it.
// Transaction ids are a random 4-byte prefix per socket and a counter:
// unique, and no getrandom system call per request.
func (cl *client) next(req []byte) {
	binary.BigEndian.PutUint16(req[0:], 0x0001)
	binary.BigEndian.PutUint16(req[2:], 0)
	binary.BigEndian.PutUint32(req[4:], magic)
	var tid [12]byte
	copy(tid[:4], cl.prefix[:])
	cl.mu.Lock()
	cl.counter++
	binary.BigEndian.PutUint64(tid[4:], cl.counter)
	cl.pending[tid] = time.Now()
	cl.mu.Unlock()
	copy(req[8:20], tid[:])
}

// answered checks one received datagram; true when it answered one of
// ours (which is then no longer outstanding).
func (cl *client) answered(b []byte) bool {
	if len(b) < 20 || binary.BigEndian.Uint16(b[0:]) != 0x0101 || binary.BigEndian.Uint32(b[4:]) != magic {
		cl.k.unmatched.Add(1)
		return false
	}
	var tid [12]byte
	copy(tid[:], b[8:20])
	cl.mu.Lock()
	_, ok := cl.pending[tid]
	delete(cl.pending, tid)
	cl.mu.Unlock()
	if !ok {
		cl.k.unmatched.Add(1)
		return false
	}
	if cl.k.counting.Load() {
		cl.k.answers.Add(1)
	}
	return true
}

// sendOne sends one new request (the unbatched path, and lost-request
// replacement).
func (cl *client) sendOne() {
	var req [20]byte
	cl.next(req[:])
	_, _ = cl.c.Write(req[:])
}

// expire forgets requests unanswered for longer than loss and returns how
// many.
func (cl *client) expire(now time.Time, loss time.Duration) int {
	n := 0
	cl.mu.Lock()
	for tid, at := range cl.pending {
		if now.Sub(at) > loss {
			delete(cl.pending, tid)
			n++
		}
	}
	cl.mu.Unlock()
	if cl.k.counting.Load() {
		cl.k.lost.Add(uint64(n))
	}
	return n
}

// stopped: whether the run is over (the socket was closed to end a read).
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// runUnbatched: one write and one read system call per request.
func (cl *client) runUnbatched(window int, stop <-chan struct{}) {
	for j := 0; j < window; j++ {
		cl.sendOne()
	}
	buf := make([]byte, 1500)
	for {
		n, err := cl.c.Read(buf)
		if stopped(stop) {
			return
		}
		if err != nil {
			continue
		}
		if cl.answered(buf[:n]) {
			cl.sendOne()
		}
	}
}

// runBatched: one recvmmsg for whatever has arrived, one sendmmsg for the
// requests that replace the answered ones.
func (cl *client) runBatched(window int, stop <-chan struct{}) {
	pc := ipv4.NewPacketConn(cl.c)
	in := make([]ipv4.Message, window)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	reqs := make([][20]byte, window)
	out := make([]ipv4.Message, window)
	for i := range out {
		out[i].Buffers = [][]byte{reqs[i][:]}
	}
	send := func(k int) {
		for i := 0; i < k; i++ {
			cl.next(reqs[i][:])
		}
		for sent := 0; sent < k; {
			n, err := pc.WriteBatch(out[sent:k], 0)
			if err != nil || n <= 0 {
				// Counted lost after -loss and replaced then.
				return
			}
			sent += n
		}
	}
	send(window)
	for {
		n, err := pc.ReadBatch(in, 0)
		if stopped(stop) {
			return
		}
		if err != nil {
			continue
		}
		k := 0
		for i := 0; i < n; i++ {
			if cl.answered(in[i].Buffers[0][:in[i].N]) {
				k++
			}
		}
		send(k)
	}
}

func main() {
	server := flag.String("server", "127.0.0.1:3478", "STUN server (loopback)")
	sockets := flag.Int("sockets", 4, "client sockets")
	window := flag.Int("window", 64, "outstanding requests per socket")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "warm-up")
	duration := flag.Duration("duration", 5*time.Second, "measured time")
	loss := flag.Duration("loss", 200*time.Millisecond, "a request unanswered this long is lost")
	batch := flag.Bool("batch", true, "recvmmsg/sendmmsg (false: a system call per datagram)")
	flag.Parse()
	dst, err := net.ResolveUDPAddr("udp4", *server)
	if err != nil || !dst.IP.IsLoopback() {
		fmt.Fprintf(os.Stderr, "stun-load: -server %q must be a loopback address\n", *server)
		os.Exit(2)
	}
	if *window < 1 || *window > 4096 || *sockets < 1 || *sockets > 256 {
		fmt.Fprintf(os.Stderr, "stun-load: -window must be 1..4096 and -sockets 1..256\n")
		os.Exit(2)
	}
	k := &counters{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < *sockets; i++ {
		conn, err := net.DialUDP("udp4", nil, dst)
		if err != nil {
			fmt.Fprintf(os.Stderr, "stun-load: socket: %v\n", err)
			os.Exit(1)
		}
		cl := &client{c: conn, pending: make(map[[12]byte]time.Time, *window*2), k: k}
		_, _ = rand.Read(cl.prefix[:])
		wg.Add(1)
		go func() {
			defer wg.Done()
			if *batch {
				cl.runBatched(*window, stop)
			} else {
				cl.runUnbatched(*window, stop)
			}
		}()
		// Lost requests are replaced, so the window stays full.
		go func() {
			t := time.NewTicker(*loss / 2)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case now := <-t.C:
					for n := cl.expire(now, *loss); n > 0; n-- {
						cl.sendOne()
					}
				}
			}
		}()
		// No read deadline (a timer update per read): closing the socket
		// at the end unblocks the read.
		go func() {
			<-stop
			_ = conn.Close()
		}()
	}
	time.Sleep(*warmup)
	k.counting.Store(true)
	start := time.Now()
	time.Sleep(*duration)
	k.counting.Store(false)
	secs := time.Since(start).Seconds()
	close(stop)
	wg.Wait()
	mode := "batch"
	if !*batch {
		mode = "one-by-one"
	}
	r := result{
		Server: *server, Mode: mode, Sockets: *sockets, Window: *window, Seconds: secs,
		Answers: k.answers.Load(), PerSecond: float64(k.answers.Load()) / secs,
		Lost: k.lost.Load(), Unmatched: k.unmatched.Load(), GoMaxProcs: runtimeProcs(),
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
}
