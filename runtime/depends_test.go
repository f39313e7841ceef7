package runtime

import (
	"slices"
	"strings"
	"testing"
)

func TestResolveDependencyErrors(t *testing.T) {
	t.Parallel()
	const base = "[Check_a]\ntype=fake\nhost=x\n" // lines 1-3
	tests := []struct {
		name string
		conf string
		want []string
	}{
		{"a cycle, at its first test's depends",
			base + "[Test_a]\nchecks=a\ndepends=b\n[Test_b]\nchecks=a\ndepends=c\n[Test_c]\nchecks=a\ndepends=a\n",
			[]string{`monsta.conf:6: [Test_a] depends: dependency cycle: a → b → c → a`}},
		{"a test depending on itself",
			base + "[Test_a]\nchecks=a\ndepends=a\n",
			[]string{`monsta.conf:6: [Test_a] depends: dependency cycle: a → a`}},
		{"a name that is not a test",
			base + "[Test_web]\nchecks=a\ndepends=Test_switch\n[Test_switch1]\nchecks=a\n",
			[]string{`monsta.conf:6: [Test_web] depends: no test named "switch" (no section [Test_switch]) (did you mean "switch1"?)`}},
		{"an uplink that is not a test",
			"[main]\nuplink=gw\n" + base + "[Test_a]\nchecks=a\n",
			[]string{`monsta.conf:2: [main] uplink: no test named "gw" (no section [Test_gw]) (did you mean "a"?)`}},
		{"an uplink with parents",
			"[main]\nuplink=gw\n" + base + "[Test_gw]\nchecks=a\ndepends=a\n[Test_a]\nchecks=a\n",
			[]string{`monsta.conf:8: [Test_gw] depends: the uplink test cannot depend on other tests: every test depends on it`}},
		{"flap thresholds the wrong way round",
			base + "[Test_a]\nchecks=a\nflap_detection=yes\nflap_high=20\n",
			[]string{`monsta.conf:7: [Test_a] flap_high: flap_low (25) must be below flap_high (20)`}},
		{"recover_after of 0",
			base + "[Test_a]\nchecks=a\nrecover_after=0\n",
			[]string{`monsta.conf:6: [Test_a] recover_after: "0" is not a whole number of at least 1`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := resolveText(t, map[string]string{"monsta.conf": tc.conf})
			if err == nil {
				t.Fatalf("Resolve() error = nil, want %q", tc.want)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("Resolve() error =\n%s\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestResolveStormOptions(t *testing.T) {
	t.Parallel()
	p, _, err := resolveText(t, map[string]string{"monsta.conf": "[main]\nuplink=Test_gw\ngroup_window=30\nflap_detection=yes\n" +
		"[Check_a]\ntype=fake\nhost=x\n[Test_gw]\nchecks=a\n[Test_web]\nchecks=a\ndepends=db db\nrecover_after=3\nflap_detection=no\n[Test_db]\nchecks=a\nflap_low=10\n"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Main.Uplink != "gw" || p.Main.GroupWindow.Seconds() != 30 || !p.Main.Flap.On {
		t.Errorf("Main = %+v", p.Main)
	}
	web, db := p.Tests[1], p.Tests[2]
	if !slices.Equal(web.Depends, []string{"db"}) || web.RecoverAfter != 3 || web.Flap.On {
		t.Errorf("web = depends %v recover_after %d flap %+v", web.Depends, web.RecoverAfter, web.Flap)
	}
	if db.Flap != (FlapPolicy{On: true, High: 50, Low: 10}) || db.RecoverAfter != 1 {
		t.Errorf("db flap = %+v, recover_after %d", db.Flap, db.RecoverAfter)
	}
	if got := Parents(web, "gw"); !slices.Equal(got, []string{"db", "gw"}) {
		t.Errorf("Parents(web) = %v", got)
	}
	if got := Parents(p.Tests[0], "gw"); len(got) != 0 {
		t.Errorf("Parents(gw) = %v", got)
	}
}
