package main

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"

	"github.com/hadirector/hadirector/internal/bench"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Colours of the two implementations in the plot.
var implColor = map[bench.Impl]color.RGBA{
	bench.Keepalived: {R: 0xd9, G: 0x5f, B: 0x02, A: 0xff},
	bench.Hadirector: {R: 0x1b, G: 0x6a, B: 0xc9, A: 0xff},
}

// panel is one tile of the plot: a metric of Metrics in a scenario, with the protocol's
// limit as a reference line.
type panel struct {
	metric int
	what   string
	limit  func(bench.ScenarioInfo) (bench.Ms, string)
}

var panels = []panel{
	{0, "kill -9 takeover", func(si bench.ScenarioInfo) (bench.Ms, string) { return si.MasterDown, "Master_Down_Interval" }},
	{2, "SIGTERM handover", func(si bench.ScenarioInfo) (bench.Ms, string) { return si.Skew, "Skew_Time" }},
}

// plotTakeover draws, per scenario (columns) and failure (rows), each implementation's
// takeover times as a box plot with every sample on it, as a PNG.
func plotTakeover(d *Data) ([]byte, error) {
	r := d.Failover
	if r == nil || len(r.Scenarios) == 0 {
		return placeholderPNG("failover not measured in this run")
	}
	impls := []bench.Impl{bench.Keepalived, bench.Hadirector}
	plots := make([][]*plot.Plot, len(panels))
	for row, pn := range panels {
		for _, si := range r.Scenarios {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s, %s (n=%d each)", pn.what, si.Name, r.Reps)
			p.Y.Label.Text = "ms (wire: " + wireSpan(pn.metric) + ")"
			p.Legend.Top, p.Legend.Left = true, true
			lo, hi := math.Inf(1), math.Inf(-1)
			for x, impl := range impls {
				var vals plotter.Values
				for _, s := range r.Samples {
					if s.Scenario == si.Name && s.Impl == impl && slices.Contains(bench.Metrics[pn.metric].Kinds, s.Kind) {
						if v := bench.Metrics[pn.metric].Get(s); v.Seen() {
							vals = append(vals, v.Millis())
						}
					}
				}
				if len(vals) == 0 {
					continue
				}
				box, err := plotter.NewBoxPlot(vg.Points(40), float64(x), vals)
				if err != nil {
					return nil, err
				}
				c := implColor[impl]
				box.FillColor = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x30}
				box.BoxStyle.Color, box.MedianStyle.Color, box.WhiskerStyle.Color = c, c, c
				box.MedianStyle.Width = vg.Points(2)
				// Every sample is drawn as a dot below; the box's own outlier circles would
				// draw some twice.
				box.GlyphStyle.Radius = 0
				pts := make(plotter.XYs, len(vals))
				for i, v := range vals {
					// A fixed, even spread (golden-ratio steps), so the plot is reproducible.
					frac := math.Mod(float64(i)*0.6180339887, 1)
					pts[i] = plotter.XY{X: float64(x) + 0.3*(frac-0.5), Y: v}
					lo, hi = min(lo, v), max(hi, v)
				}
				sc, err := plotter.NewScatter(pts)
				if err != nil {
					return nil, err
				}
				sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = c, vg.Points(2.5), draw.CircleGlyph{}
				p.Add(box, sc)
				p.Legend.Add(string(impl), sc)
			}
			if limit, name := pn.limit(si); limit.Seen() {
				line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: limit.Millis()}, {X: 1.5, Y: limit.Millis()}})
				if err != nil {
					return nil, err
				}
				line.Color, line.Dashes = color.Gray{Y: 0x60}, []vg.Length{vg.Points(4), vg.Points(3)}
				p.Add(line)
				p.Legend.Add(fmt.Sprintf("%s %s ms", name, limit), line)
				lo, hi = min(lo, limit.Millis()), max(hi, limit.Millis())
			}
			p.NominalX("keepalived", "hadirector")
			p.X.Min, p.X.Max = -0.6, 1.6
			if !math.IsInf(lo, 0) {
				// Room above for the legend.
				span := max(hi-lo, hi*0.002, 0.01)
				p.Y.Min, p.Y.Max = max(0, lo-0.1*span), hi+0.6*span
			}
			plots[row] = append(plots[row], p)
		}
	}
	const dpi = 96
	w, h := vg.Length(520*len(r.Scenarios))*vg.Inch/dpi, vg.Length(460*len(panels))*vg.Inch/dpi
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: len(r.Scenarios), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// wireSpan says which two wire events a takeover metric spans.
func wireSpan(metric int) string {
	if metric == 0 {
		return "last advert → first advert of the new master"
	}
	return "SIGTERM → first advert of the new master"
}

// placeholderPNG is a small image saying why there is no plot.
func placeholderPNG(why string) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "takeover times: " + why
	p.HideAxes()
	img := vgimg.New(6*vg.Inch, 1*vg.Inch)
	p.Draw(draw.New(img))
	var buf bytes.Buffer
	_, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf)
	return buf.Bytes(), err
}
