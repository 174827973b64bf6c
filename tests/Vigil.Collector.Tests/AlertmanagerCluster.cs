using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Vigil.Collector.Tests;

/// <summary>
/// Two real Alertmanagers (Debian's prometheus-alertmanager) clustered on 127.0.0.1, each peering with the other, with
/// one webhook receiver (group_wait and group_interval 1 s; a 1 s peer timeout, so the second member's duplicate would
/// come within a second of the first's notification). Killed on dispose.
/// </summary>
public sealed class AlertmanagerCluster : IAsyncDisposable
{
    private const string Binary = "/usr/bin/prometheus-alertmanager";
    private readonly string _dir;

    private AlertmanagerCluster(string dir, IReadOnlyList<Member> members)
    {
        _dir = dir;
        Members = members;
    }

    public IReadOnlyList<Member> Members { get; }

    public static async Task<AlertmanagerCluster> StartAsync(string webhookUrl)
    {
        Assert.True(File.Exists(Binary), $"{Binary} is missing: run tests/run.sh, which installs the Debian packages in tests/apt-packages.txt (prometheus-alertmanager)");
        var dir = Path.Combine(Path.GetTempPath(), "vigil-amc-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "alertmanager.yml");
        await File.WriteAllTextAsync(config, $"""
            route:
              receiver: hook
              group_by: [alertname]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: hook
                webhook_configs:
                  - url: "{webhookUrl}"
                    send_resolved: true
            """);
        int[] web = [RemoteWriteReceiver.FreePort(), RemoteWriteReceiver.FreePort()];
        int[] gossip = [RemoteWriteReceiver.FreePort(), RemoteWriteReceiver.FreePort()];
        var members = new List<Member>();
        for (var i = 0; i < 2; i++)
        {
            members.Add(Member.Start(dir, i, config, web[i], gossip[i], gossip[1 - i]));
        }

        var cluster = new AlertmanagerCluster(dir, members);
        foreach (var member in members)
        {
            await member.WaitReadyAsync();
        }

        // Both members must see each other before the test sends alerts, or each would notify alone.
        foreach (var member in members)
        {
            await member.WaitForPeersAsync(2);
        }

        return cluster;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var member in Members)
        {
            member.Dispose();
        }

        await Task.CompletedTask;
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    public sealed class Member : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _log = new();

        private Member(Process process, int port)
        {
            _process = process;
            BaseAddress = new Uri($"http://127.0.0.1:{port}");
            Http = new HttpClient { BaseAddress = BaseAddress };
        }

        public Uri BaseAddress { get; }

        public HttpClient Http { get; }

        public static Member Start(string dir, int index, string config, int port, int gossip, int peer)
        {
            var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[]
            {
                $"--web.listen-address=127.0.0.1:{port}", $"--cluster.listen-address=127.0.0.1:{gossip}", $"--cluster.advertise-address=127.0.0.1:{gossip}",
                $"--cluster.peer=127.0.0.1:{peer}", "--cluster.peer-timeout=1s", "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=1s",
                "--cluster.settle-timeout=5s", $"--storage.path={Path.Combine(dir, "data-" + index)}", $"--config.file={config}", "--log.level=warn",
            })
            {
                start.ArgumentList.Add(arg);
            }

            var process = Process.Start(start)!;
            var member = new Member(process, port);
            process.OutputDataReceived += (_, e) => member.Log(e.Data);
            process.ErrorDataReceived += (_, e) => member.Log(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return member;
        }

        public async Task WaitReadyAsync()
        {
            await WaitAsync(async () =>
            {
                using var response = await Http.GetAsync("/-/ready");
                return response.IsSuccessStatusCode;
            }, "ready");
        }

        public Task WaitForPeersAsync(int peers) => WaitAsync(async () =>
        {
            using var status = JsonDocument.Parse(await Http.GetStringAsync("/api/v2/status"));
            return status.RootElement.GetProperty("cluster").GetProperty("peers").GetArrayLength() >= peers;
        }, $"{peers} cluster peers");

        /// <summary>Polls /api/v2/alerts until the named alert satisfies <paramref name="condition"/>.</summary>
        public Task WaitForAlertAsync(string alertname, Func<JsonElement, bool> condition) => WaitAsync(async () =>
        {
            using var alerts = JsonDocument.Parse(await Http.GetStringAsync("/api/v2/alerts"));
            return alerts.RootElement.EnumerateArray().Any(a => a.GetProperty("labels").GetProperty("alertname").GetString() == alertname && condition(a));
        }, $"alert {alertname}");

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }

            _process.Dispose();
            Http.Dispose();
        }

        private async Task WaitAsync(Func<Task<bool>> condition, string what)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                try
                {
                    if (await condition())
                    {
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }

                await Task.Delay(100);
            }

            Assert.Fail($"Alertmanager {BaseAddress}: no {what} within 30s (exited: {_process.HasExited}); log:\n{Logged()}");
        }

        private void Log(string? line)
        {
            if (line is not null)
            {
                lock (_log)
                {
                    _log.AppendLine(line);
                }
            }
        }

        private string Logged()
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }
}
