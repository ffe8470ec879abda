// stun-load: an independent closed-window STUN load generator (Go standard
// library only), for natscope's serve benchmark. Keeps -window Binding
// requests outstanding on each of -sockets UDP sockets towards -server,
// replaces each answered (Binding success with a matching transaction id)
// or lost (unanswered for -loss) request with a new one, and after -warmup
// counts answers for -duration. Prints one JSON object.
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
)

const magic = 0x2112a442

type result struct {
	Server     string  `json:"server"`
	Sockets    int     `json:"sockets"`
	Window     int     `json:"window"`
	Seconds    float64 `json:"seconds"`
	Answers    uint64  `json:"answers"`
	PerSecond  float64 `json:"answers_per_sec"`
	Lost       uint64  `json:"lost"`
	Unmatched  uint64  `json:"unmatched"`
	GoMaxProcs int     `json:"gomaxprocs"`
}

func main() {
	server := flag.String("server", "127.0.0.1:3478", "STUN server (loopback)")
	sockets := flag.Int("sockets", 4, "client sockets")
	window := flag.Int("window", 64, "outstanding requests per socket")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "warm-up")
	duration := flag.Duration("duration", 5*time.Second, "measured time")
	loss := flag.Duration("loss", 200*time.Millisecond, "a request unanswered this long is lost")
	flag.Parse()
	dst, err := net.ResolveUDPAddr("udp4", *server)
	if err != nil || !dst.IP.IsLoopback() {
		fmt.Fprintf(os.Stderr, "stun-load: -server %q must be a loopback address\n", *server)
		os.Exit(2)
	}
	var counting atomic.Bool
	var answers, lost, unmatched atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < *sockets; i++ {
		conn, err := net.DialUDP("udp4", nil, dst)
		if err != nil {
			fmt.Fprintf(os.Stderr, "stun-load: socket: %v\n", err)
			os.Exit(1)
		}
		wg.Add(1)
		go func(c *net.UDPConn) {
			defer wg.Done()
			defer c.Close()
			var mu sync.Mutex
			pending := make(map[[12]byte]time.Time, *window*2)
			send := func() {
				var req [20]byte
				binary.BigEndian.PutUint16(req[0:], 0x0001)
				binary.BigEndian.PutUint32(req[4:], magic)
				var tid [12]byte
				_, _ = rand.Read(tid[:])
				copy(req[8:], tid[:])
				mu.Lock()
				pending[tid] = time.Now()
				mu.Unlock()
				_, _ = c.Write(req[:])
			}
			for j := 0; j < *window; j++ {
				send()
			}
			// Lost requests are replaced, so the window stays full.
			go func() {
				t := time.NewTicker(*loss / 2)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case now := <-t.C:
						n := 0
						mu.Lock()
						for tid, at := range pending {
							if now.Sub(at) > *loss {
								delete(pending, tid)
								n++
							}
						}
						mu.Unlock()
						if counting.Load() {
							lost.Add(uint64(n))
						}
						for ; n > 0; n-- {
							send()
						}
					}
				}
			}()
			buf := make([]byte, 1500)
			for {
				_ = c.SetReadDeadline(time.Now().Add(*loss))
				n, err := c.Read(buf)
				select {
				case <-stop:
					return
				default:
				}
				if err != nil {
					continue
				}
				if n < 20 || binary.BigEndian.Uint16(buf[0:]) != 0x0101 || binary.BigEndian.Uint32(buf[4:]) != magic {
					unmatched.Add(1)
					continue
				}
				var tid [12]byte
				copy(tid[:], buf[8:20])
				mu.Lock()
				_, ok := pending[tid]
				delete(pending, tid)
				mu.Unlock()
				if !ok {
					unmatched.Add(1)
					continue
				}
				if counting.Load() {
					answers.Add(1)
				}
				send()
			}
		}(conn)
	}
	time.Sleep(*warmup)
	counting.Store(true)
	start := time.Now()
	time.Sleep(*duration)
	counting.Store(false)
	secs := time.Since(start).Seconds()
	close(stop)
	wg.Wait()
	r := result{
		Server: *server, Sockets: *sockets, Window: *window, Seconds: secs,
		Answers: answers.Load(), PerSecond: float64(answers.Load()) / secs,
		Lost: lost.Load(), Unmatched: unmatched.Load(), GoMaxProcs: runtimeProcs(),
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
}
