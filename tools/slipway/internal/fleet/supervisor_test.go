package fleet

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startTestChild starts the test binary in the given child mode under sup.
func startTestChild(t *testing.T, sup *Supervisor, name, mode string) *Process {
	t.Helper()
	p, err := sup.Start(ProcSpec{
		Name: name,
		Path: clitest.Executable(t),
		Dir:  t.TempDir(),
		Env:  append(os.Environ(), clitest.ChildModeEnv+"="+mode),
	})
	require.NoError(t, err)
	t.Cleanup(func() { sup.Stop(p, 0, nil) })
	return p
}

func TestSupervisorStopsChildWithSIGTERM(t *testing.T) {
	var out clitest.SyncBuffer
	sup := NewSupervisor(NewConsole(&out, false, "child"))
	p := startTestChild(t, sup, "child", "wait")

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "child   | hello\n") },
		10*time.Second, 10*time.Millisecond, "the child's first line is streamed with its prefix")
	assert.Len(t, sup.Running(), 1)

	e := sup.Stop(p, 10*time.Second, nil)
	assert.True(t, e.Requested)
	assert.False(t, e.Killed)
	assert.Equal(t, 0, e.Code, e.Describe())
	assert.True(t, e.Clean())
	assert.Less(t, e.StopTook, 10*time.Second)
	assert.Contains(t, out.String(), "child   | got SIGTERM\n", "the child saw SIGTERM")
	assert.Contains(t, out.String(), "child   | partial\n", "the partial last line is flushed on exit")
	assert.Empty(t, sup.Running())
	assert.Equal(t, []string{"hello", "got SIGTERM", "partial"}, p.Tail())
	select {
	case e := <-sup.Exited():
		t.Fatalf("a requested stop was reported as an unexpected exit: %+v", e)
	default:
	}
}

func TestSupervisorReportsEarlyExit(t *testing.T) {
	var out clitest.SyncBuffer
	sup := NewSupervisor(NewConsole(&out, false, "child"))
	p := startTestChild(t, sup, "child", "exit")

	select {
	case e := <-sup.Exited():
		assert.Equal(t, "child", e.Name)
		assert.Equal(t, 3, e.Code)
		assert.False(t, e.Requested)
		assert.False(t, e.Clean())
		assert.Equal(t, "exit code 3", e.Describe())
	case <-time.After(10 * time.Second):
		t.Fatal("the early exit was not reported")
	}
	<-p.Done()
	assert.Equal(t, []string{"bye"}, p.Tail())
	assert.Empty(t, sup.Running())

	e := sup.Stop(p, time.Second, nil)
	assert.Equal(t, 3, e.Code, "stopping an exited child returns its exit")
}

func TestSupervisorKillsAfterGrace(t *testing.T) {
	var out clitest.SyncBuffer
	sup := NewSupervisor(NewConsole(&out, false, "child"))
	p := startTestChild(t, sup, "child", "stubborn")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "ignoring SIGTERM") },
		10*time.Second, 10*time.Millisecond)

	start := time.Now()
	e := sup.Stop(p, 200*time.Millisecond, nil)
	assert.True(t, e.Killed)
	assert.False(t, e.Clean())
	assert.Equal(t, "killed (SIGKILL)", e.Describe())
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "the grace period was granted")
}

func TestSupervisorForceSkipsGrace(t *testing.T) {
	var out clitest.SyncBuffer
	sup := NewSupervisor(NewConsole(&out, false, "child"))
	p := startTestChild(t, sup, "child", "stubborn")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "ignoring SIGTERM") },
		10*time.Second, 10*time.Millisecond)

	force := make(chan struct{})
	close(force)
	start := time.Now()
	e := sup.Stop(p, time.Hour, force)
	assert.True(t, e.Killed)
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestSupervisorStopAll(t *testing.T) {
	var out clitest.SyncBuffer
	sup := NewSupervisor(NewConsole(&out, false, "a", "b"))
	startTestChild(t, sup, "a", "wait")
	startTestChild(t, sup, "b", "wait")
	require.Eventually(t, func() bool { return strings.Count(out.String(), "hello") == 2 },
		10*time.Second, 10*time.Millisecond)

	exits := sup.StopAll(10*time.Second, nil)
	require.Len(t, exits, 2)
	assert.Equal(t, "a", exits[0].Name)
	assert.Equal(t, "b", exits[1].Name)
	for _, e := range exits {
		assert.True(t, e.Clean(), "%s: %s", e.Name, e.Describe())
	}
	assert.Empty(t, sup.Running())
}

func TestSupervisorStartFailure(t *testing.T) {
	sup := NewSupervisor(NewConsole(&clitest.SyncBuffer{}, false))
	_, err := sup.Start(ProcSpec{Name: "ghost", Path: "/nonexistent/ghost"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "start ghost")
}
