package ratelimit

import (
	"context"
	"errors"
	"time"
)

// fairQueue holds the requests waiting for one rate key on this replica.
// Its dispatcher serves users round-robin, one request per user per turn,
// so a user with many waiting requests cannot push the others back: with
// k users waiting, each waits at most k emission intervals per request
// ahead of it. Replicas each run their own queue against the shared
// bucket, so the order is fair per replica and the rate is exact overall.
type fairQueue struct {
	c      check
	users  map[string][]*waiter
	ring   []string // users with waiters, in turn order
	cursor int
	active bool // a dispatcher runs
}

// grant is the dispatcher's answer to a waiter.
type grant struct {
	res Result
	err error
}

type waiter struct {
	user  string
	done  chan grant // buffered; receives the grant
	gone  bool       // gave up (deadline or cancellation)
	since time.Time
}

// errClosed refuses waiters when the limiter closes.
var errClosed = errors.New("rate limiter closed")

// queued counts one event against a queued rate: at once when the bucket
// has room and nobody waits, else after waiting its fair turn, at most
// the limit's queue time.
func (l *Limiter) queued(ctx context.Context, c check, user string) (Result, time.Duration, error) {
	lim := c.lim
	l.qmu.Lock()
	q := l.queues[c.key]
	empty := q == nil || len(q.ring) == 0
	l.qmu.Unlock()
	if empty {
		res, err := l.o.Store.Allow(ctx, c.key, lim.Rate)
		if err != nil || res.Allowed {
			return res, 0, err
		}
		if res.RetryAfter > lim.QueueTime {
			// Not even the first in line would get through in time.
			return res, 0, refuse(lim, "rate", res.RetryAfter)
		}
	}

	start := time.Now()
	w := &waiter{user: user, done: make(chan grant, 1), since: start}
	l.qmu.Lock()
	q = l.queues[c.key]
	if q == nil {
		q = &fairQueue{c: c, users: map[string][]*waiter{}}
		l.queues[c.key] = q
	}
	if live(q.users[user]) >= lim.MaxQueuedPerUser {
		l.qmu.Unlock()
		return Result{}, 0, refuse(lim, "queue_full", lim.Rate.interval()*time.Duration(len(q.ring)+1))
	}
	if len(q.users[user]) == 0 {
		q.ring = append(q.ring, user)
	}
	q.users[user] = append(q.users[user], w)
	if !q.active {
		q.active = true
		l.wg.Add(1)
		go l.dispatch(q) //nolint:contextcheck // the queue dispatcher serves every waiting request, not one
	}
	l.qmu.Unlock()
	l.o.OnDecision(lim.Name, "queued")

	timer := time.NewTimer(lim.QueueTime)
	defer timer.Stop()
	var reason string
	select {
	case g := <-w.done:
		waited := time.Since(start)
		l.o.OnQueueWait(lim.Name, waited)
		return g.res, waited, g.err
	case <-timer.C:
		reason = "queue_timeout"
	case <-ctx.Done():
		reason = "cancelled"
	case <-l.bg.Done():
		reason = "closed"
	}
	l.qmu.Lock()
	w.gone = true
	waiting := len(q.ring)
	l.qmu.Unlock()
	select {
	case g := <-w.done: // granted as it gave up: take it
		waited := time.Since(start)
		l.o.OnQueueWait(lim.Name, waited)
		return g.res, waited, g.err
	default:
	}
	waited := time.Since(start)
	l.o.OnQueueWait(lim.Name, waited)
	if reason == "cancelled" {
		return Result{}, waited, ctx.Err()
	}
	if reason == "closed" {
		return Result{}, waited, errClosed
	}
	return Result{}, waited, refuse(lim, reason, lim.Rate.interval()*time.Duration(max(waiting, 1)))
}

func live(ws []*waiter) int {
	n := 0
	for _, w := range ws {
		if !w.gone {
			n++
		}
	}
	return n
}

// next returns the waiter whose turn it is, dropping those that gave up,
// or nil when nobody waits (and then retires the queue). Call with qmu.
func (l *Limiter) next(q *fairQueue) *waiter {
	for len(q.ring) > 0 {
		if q.cursor >= len(q.ring) {
			q.cursor = 0
		}
		u := q.ring[q.cursor]
		ws := q.users[u]
		for len(ws) > 0 && ws[0].gone {
			ws = ws[1:]
		}
		if len(ws) == 0 {
			delete(q.users, u)
			q.ring = append(q.ring[:q.cursor], q.ring[q.cursor+1:]...)
			continue
		}
		q.users[u] = ws
		return ws[0]
	}
	q.active = false
	if l.queues[q.c.key] == q {
		delete(l.queues, q.c.key)
	}
	return nil
}

// served removes w, whose turn it was, and passes the turn on.
func (l *Limiter) served(q *fairQueue, w *waiter) {
	ws := q.users[w.user]
	if len(ws) > 0 && ws[0] == w {
		ws = ws[1:]
	}
	if len(ws) == 0 {
		delete(q.users, w.user)
		q.ring = append(q.ring[:q.cursor], q.ring[q.cursor+1:]...)
	} else {
		q.users[w.user] = ws
		q.cursor++
	}
}

// dispatch grants the queue's waiters their events, one at a time, as the
// shared bucket lets them: when the store says wait, it waits that long
// and asks again, the same waiter keeping its turn.
func (l *Limiter) dispatch(q *fairQueue) {
	defer l.wg.Done()
	lim := q.c.lim
	timer := time.NewTimer(0)
	<-timer.C
	for {
		l.qmu.Lock()
		w := l.next(q)
		l.qmu.Unlock()
		if w == nil {
			return
		}
		ctx, cancel := context.WithTimeout(l.bg, 2*time.Second)
		res, err := l.o.Store.Allow(ctx, q.c.key, lim.Rate)
		cancel()
		if err != nil || res.Allowed {
			// A store error goes to the waiter, which fails the way its
			// limit says.
			l.qmu.Lock()
			got := w
			for got != nil && got.gone {
				l.served(q, got)
				got = l.next(q)
			}
			if got != nil {
				l.served(q, got)
				got.done <- grant{res, err}
			}
			active := q.active
			l.qmu.Unlock()
			if !active {
				return
			}
			continue
		}
		timer.Reset(res.RetryAfter)
		select {
		case <-timer.C:
		case <-l.bg.Done():
			return
		}
	}
}
