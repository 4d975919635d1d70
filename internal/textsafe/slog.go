package textsafe

import (
	"context"
	"fmt"
	"log/slog"
)

// NewHandler wraps a slog.Handler so that every record it passes on has its
// message, attribute keys and textual attribute values escaped (Escape):
// log lines may carry host text (a server name, a fault message), and the
// handler at the end may print it raw (a DRP job log does).
func NewHandler(next slog.Handler) slog.Handler { return &handler{next: next} }

type handler struct{ next slog.Handler }

// NewLogger is l with every record escaped (NewHandler); a nil l discards.
func NewLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(NewHandler(l.Handler()))
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Escape(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(escapeAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	esc := make([]slog.Attr, len(as))
	for i, a := range as {
		esc[i] = escapeAttr(a)
	}
	return &handler{next: h.next.WithAttrs(esc)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(Escape(name))}
}

// escapeAttr escapes a's key and, for text, its value. Numbers, booleans,
// times and durations print no control character and are kept as they are.
func escapeAttr(a slog.Attr) slog.Attr {
	a.Key = Escape(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(Escape(v.String()))
	case slog.KindGroup:
		g := v.Group()
		esc := make([]slog.Attr, len(g))
		for i, ga := range g {
			esc[i] = escapeAttr(ga)
		}
		a.Value = slog.GroupValue(esc...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			a.Value = slog.StringValue(Escape(x.Error()))
		case fmt.Stringer:
			a.Value = slog.StringValue(Escape(x.String()))
		default:
			a.Value = slog.StringValue(Escape(fmt.Sprint(x)))
		}
	default:
		a.Value = v
	}
	return a
}
