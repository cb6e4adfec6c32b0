package report

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/rewind-dev/rewind/bench/workload"
)

var peerColors = map[string]color.Color{
	workload.Rewind:    color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	workload.GqlgenMem: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	workload.Node:      color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

var peerOrder = []string{workload.Rewind, workload.GqlgenMem, workload.Node}

// drawCharts draws the fan-out charts into dir and returns their names.
func drawCharts(r *workload.Results, dir string) ([]string, error) {
	if len(r.Fanout) == 0 {
		return nil, nil
	}
	var names []string
	if err := throughputChart(r, filepath.Join(dir, "fanout-throughput.png")); err != nil {
		return nil, err
	}
	names = append(names, "fanout-throughput.png")
	if err := latencyChart(r, filepath.Join(dir, "fanout-latency.png")); err != nil {
		return nil, err
	}
	return append(names, "fanout-latency.png"), nil
}

func throughputChart(r *workload.Results, file string) error {
	p := plot.New()
	p.Title.Text = "Fan-out: deliveries/s at p99 < 100 ms"
	p.X.Label.Text = "subscribers (WebSocket connections)"
	p.Y.Label.Text = "deliveries/s"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(10), vg.Points(-4)
	p.Add(plotter.NewGrid())
	for _, peer := range peerOrder {
		var pts plotter.XYs
		seen := map[int]bool{}
		for _, f := range r.Fanout {
			if f.Peer != peer || seen[f.Subscribers] {
				continue
			}
			seen[f.Subscribers] = true
			if b := fanoutRun(r, peer, f.Subscribers); b != nil && b.Best >= 0 {
				pts = append(pts, plotter.XY{X: float64(f.Subscribers), Y: b.Steps[b.Best].DeliveriesPerSec})
			}
		}
		if len(pts) == 0 {
			continue
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int { return int(a.X - b.X) })
		for _, pt := range pts {
			p.Y.Max = max(p.Y.Max, 1.35*pt.Y) // room for the legend
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		line.Color, points.Color = peerColors[peer], peerColors[peer]
		line.Width = vg.Points(2)
		p.Add(line, points)
		p.Legend.Add(peer, line, points)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, file)
}

func latencyChart(r *workload.Results, file string) error {
	steps := map[string]*workload.FanoutStep{}
	title := fmt.Sprintf("Fan-out latency, %d subscribers, each server's fastest passing step", r.FanoutAt)
	if rate, common := commonRate(r, r.FanoutAt); len(common) > 1 {
		steps = common
		title = fmt.Sprintf("Fan-out latency, %d subscribers, %.0f deliveries/s (all servers)", r.FanoutAt, rate*float64(r.FanoutAt))
	} else {
		for _, peer := range peerOrder {
			steps[peer] = fanoutBest(r, peer, r.FanoutAt)
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "publish-to-receive latency (ms)"
	p.Y.Label.Text = "fraction of deliveries at or below"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1.3 // room above the curves for the legend
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(10), vg.Points(-4)
	p.Add(plotter.NewGrid())
	for _, peer := range peerOrder {
		s := steps[peer]
		if s == nil || len(s.Latency.CDF) == 0 {
			continue
		}
		var pts plotter.XYs
		for _, c := range s.Latency.CDF {
			ms := max(float64(c.Latency)/1e6, 0.01) // the log scale needs > 0
			pts = append(pts, plotter.XY{X: ms, Y: c.Fraction})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = peerColors[peer]
		line.Width = vg.Points(2)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (p99 %.0f ms)", peer, s.Latency.P99), line)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, file)
}
