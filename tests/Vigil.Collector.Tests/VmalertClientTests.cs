using System.Diagnostics;
using System.Text;
using Vigil.Storage;

namespace Vigil.Collector.Tests;

/// <summary>
/// vmalert (VictoriaMetrics' rule evaluator, Debian package victoria-metrics) evaluating PromQL alert rules against
/// Vigil's query API and sending to a real Alertmanager: Vigil as the Prometheus data source of another engine
/// (issue #11 item 6).
/// </summary>
public sealed class VmalertClientTests
{
    private const string Binary = "/usr/bin/vmalert";

    [Fact]
    public async Task Vmalert_FiresTheRuleWhoseQueryVigilAnswersAboveItsThreshold_AndOnlyThatOne()
    {
        Assert.True(File.Exists(Binary), $"{Binary} is missing: run tests/run.sh, which installs the Debian packages in tests/apt-packages.txt (victoria-metrics)");
        await using var vigil = await VigilServer.StartAsync();
        foreach (var (job, value) in new[] { ("a", 3.0), ("b", 1.0) })
        {
            var outcome = vigil.Store.AddNumber("jobs", MetricKind.Gauge, cumulative: false, new Dictionary<string, string> { ["job"] = job }, default, DateTimeOffset.UtcNow, value);
            Assert.True(outcome.IsAccepted, outcome.RefusalReason);
        }

        await using var alertmanager = await AlertmanagerCluster.StartAsync("http://127.0.0.1:9/unused");
        var dir = Path.Combine(Path.GetTempPath(), "vigil-vmalert-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var rules = Path.Combine(dir, "rules.yml");
        await File.WriteAllTextAsync(rules, """
            groups:
              - name: vigil-datasource
                interval: 1s
                rules:
                  - alert: JobsHigh
                    expr: jobs > 2
                    labels: { severity: P2 }
                    annotations: { summary: "jobs at {{ $value }}" }
                  - alert: JobsAbsurd
                    expr: jobs > 100
            """);

        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            $"-rule={rules}", $"-datasource.url={vigil.HttpUri.ToString().TrimEnd('/')}",
            $"-notifier.url={alertmanager.Members[0].BaseAddress.ToString().TrimEnd('/')}",
            $"-httpListenAddr=127.0.0.1:{RemoteWriteReceiver.FreePort()}", "-evaluationInterval=1s", "-loggerLevel=WARN",
        })
        {
            start.ArgumentList.Add(arg);
        }

        var log = new StringBuilder();
        using var vmalert = Process.Start(start)!;
        vmalert.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        vmalert.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        vmalert.BeginOutputReadLine();
        vmalert.BeginErrorReadLine();
        try
        {
            // Only job a's 3 is above 2; its value reaches the annotation through vmalert's templating.
            await alertmanager.Members[0].WaitForAlertAsync("JobsHigh", a =>
                a.GetProperty("labels").GetProperty("job").GetString() == "a" &&
                a.GetProperty("annotations").GetProperty("summary").GetString() == "jobs at 3");

            using var alerts = System.Text.Json.JsonDocument.Parse(await alertmanager.Members[0].Http.GetStringAsync("/api/v2/alerts"));
            var names = alerts.RootElement.EnumerateArray()
                .Select(a => (Name: a.GetProperty("labels").GetProperty("alertname").GetString(), Job: a.GetProperty("labels").TryGetProperty("job", out var j) ? j.GetString() : null))
                .ToList();
            Assert.Equal([("JobsHigh", "a")], names);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            string text;
            lock (log)
            {
                text = log.ToString();
            }

            throw new InvalidOperationException($"vmalert against Vigil failed; vmalert said:\n{text}", e);
        }
        finally
        {
            if (!vmalert.HasExited)
            {
                vmalert.Kill(entireProcessTree: true);
                await vmalert.WaitForExitAsync();
            }

            Directory.Delete(dir, recursive: true);
        }
    }
}
