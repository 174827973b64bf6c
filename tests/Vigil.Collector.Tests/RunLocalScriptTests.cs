using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Vigil.Instrumentation.Tests;

namespace Vigil.Collector.Tests;

/// <summary>
/// otel-config/run-local.sh, the compose stack as local processes: run briefly on free loopback ports, the demo's
/// first alert reaches Alertmanager end to end, VictoriaMetrics holds Vigil's remote-written aggregates, and
/// <c>run-local.sh stop</c> leaves no process behind.
/// </summary>
public sealed class RunLocalScriptTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task RunLocal_FiresTheDemoAlertThroughAlertmanager_RemoteWritesToVictoria_AndStopsEverything()
    {
        var dir = Path.Combine(Path.GetTempPath(), "vigil-run-local-" + Guid.NewGuid().ToString("N"));
        int alertmanager = RemoteWriteReceiver.FreePort(), victoria = RemoteWriteReceiver.FreePort();
        var environment = new Dictionary<string, string>
        {
            ["VIGIL_LOCAL_DIR"] = dir,
            ["VIGIL_DLL"] = Path.Combine(AppContext.BaseDirectory, "vigil.dll"),
            ["VIGIL_OTLP_GRPC_PORT"] = Port(),
            ["VIGIL_OTLP_HTTP_PORT"] = Port(),
            ["VIGIL_HTTP_PORT"] = Port(),
            ["PROMETHEUS_PORT"] = Port(),
            ["ALERTMANAGER_PORT"] = alertmanager.ToString(CultureInfo.InvariantCulture),
            ["VICTORIA_PORT"] = victoria.ToString(CultureInfo.InvariantCulture),
        };
        var output = new StringBuilder();
        using var script = Script(environment, output, "start");
        List<int> pids = [];
        try
        {
            // The demo opens with a cross-tenant probe; TenantCrossTenantDenied has no `for` and fires at the first evaluation.
            using var amHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{alertmanager}") };
            var found = await EventuallyAsync(async () =>
            {
                using var alerts = JsonDocument.Parse(await amHttp.GetStringAsync("/api/v2/alerts"));
                return alerts.RootElement.EnumerateArray()
                    .Where(a => a.GetProperty("labels").GetProperty("alertname").GetString() == "TenantCrossTenantDenied")
                    .Select(a => (JsonElement?)a.Clone()).FirstOrDefault();
            }, "Alertmanager holding TenantCrossTenantDenied", script, output, dir);
            var alert = found!.Value;
            Assert.Equal("P1", alert.GetProperty("labels").GetProperty("severity").GetString());
            Assert.Equal("active", alert.GetProperty("status").GetProperty("state").GetString());
            Assert.Equal("p1-pager", alert.GetProperty("receivers")[0].GetProperty("name").GetString()); // routed by the shipped alertmanager.yml
            var tenant = alert.GetProperty("labels").GetProperty("tenant_id").GetString()!;
            var startsAt = DateTimeOffset.Parse(alert.GetProperty("startsAt").GetString()!, CultureInfo.InvariantCulture);

            // The same alert in the store, remote-written: ALERTS = 1 and ALERTS_FOR_STATE = activeAt, Alertmanager's startsAt.
            using var vmHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{victoria}") };
            var firing = await ExportedAsync(vmHttp, $"ALERTS{{alertname=\"TenantCrossTenantDenied\",alertstate=\"firing\",tenant_id=\"{tenant}\"}}", script, output, dir);
            Assert.All(firing, v => Assert.Equal(1, v));
            var activeAt = await ExportedAsync(vmHttp, $"ALERTS_FOR_STATE{{alertname=\"TenantCrossTenantDenied\",tenant_id=\"{tenant}\"}}", script, output, dir);
            Assert.Equal(startsAt.ToUnixTimeMilliseconds() / 1000.0, activeAt[^1], 3);
            // ... and a recording rule's output (rules/ai.yaml), under its Prometheus name.
            Assert.NotEmpty(await ExportedAsync(vmHttp, "ai_run_cost_per_run", script, output, dir));

            pids = [.. (await File.ReadAllLinesAsync(Path.Combine(dir, "pids"))).Select(l => int.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture))];
            Assert.Equal(4, pids.Count);
            using (var stop = Script(environment, output, "stop"))
            {
                await stop.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
                Assert.True(stop.ExitCode == 0, $"run-local.sh stop exited {stop.ExitCode}:\n{Logged(output)}");
            }

            await script.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(!pids.Any(Alive), "left running: " + string.Join(", ", pids.Where(Alive).Select(p => $"{p} {State(p)}")));
            Assert.False(File.Exists(Path.Combine(dir, "pids")), "the pid file outlived the stack");
        }
        finally
        {
            // Whatever the assertions said, nothing this test started outlives it.
            if (!script.HasExited)
            {
                script.Kill(entireProcessTree: true);
            }

            foreach (var pid in pids.Where(Alive))
            {
                using var left = Process.GetProcessById(pid);
                left.Kill(entireProcessTree: true);
            }

            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static string Port() => RemoteWriteReceiver.FreePort().ToString(CultureInfo.InvariantCulture);

    private static Process Script(Dictionary<string, string> environment, StringBuilder output, string verb)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(RepoPaths.Of("otel-config/run-local.sh"));
        start.ArgumentList.Add(verb);
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Log(output, e.Data);
        process.ErrorDataReceived += (_, e) => Log(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The values VictoriaMetrics holds for one series selector (its export API: raw samples, no lookback).</summary>
    private static async Task<List<double>> ExportedAsync(HttpClient vm, string selector, Process script, StringBuilder output, string dir) =>
        await EventuallyAsync(async () =>
        {
            var lines = (await vm.GetStringAsync("/api/v1/export?match[]=" + Uri.EscapeDataString(selector))).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (lines.Length == 0)
            {
                return null;
            }

            using var series = JsonDocument.Parse(lines[0]);
            return series.RootElement.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToList();
        }, "VictoriaMetrics holding " + selector, script, output, dir);

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, string what, Process script, StringBuilder output, string dir)
    {
        var deadline = DateTime.UtcNow + Patience;
        Exception? last = null;
        while (DateTime.UtcNow < deadline && !script.HasExited)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (HttpRequestException e)
            {
                last = e; // not listening yet
            }

            await Task.Delay(500);
        }

        var logs = Directory.Exists(Path.Combine(dir, "logs"))
            ? string.Join('\n', Directory.GetFiles(Path.Combine(dir, "logs")).Select(f => $"--- {Path.GetFileName(f)}\n{string.Join('\n', File.ReadLines(f).TakeLast(15))}"))
            : "(no logs)";
        Assert.Fail($"no {what} within {Patience.TotalSeconds}s (script exited: {script.HasExited}; last error: {last?.Message}); script:\n{Logged(output)}\n{logs}");
        return default!;
    }

    private static string State(int pid) =>
        File.Exists($"/proc/{pid}/status") ? File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("State:", StringComparison.Ordinal)) ?? "?" : "gone";

    private static bool Alive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void Log(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Logged(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }
}
