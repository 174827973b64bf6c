using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;

namespace Vigil.LoadTool.Soak;

/// <summary>
/// <c>vigil-load soak</c>: ingest, rules and delivery together for minutes on loopback, with a kill -9
/// and restart in the middle, then the three checks an on-call engineer cares about: no acknowledged
/// point lost (the store's total is at least what was acknowledged, and at most what was sent), the
/// collector's RSS stayed under the ceiling, and every alert event in the history reached the webhook.
/// Exits 0 when all three hold, 1 otherwise; everything it starts runs on 127.0.0.1 and is stopped.
/// </summary>
internal sealed class SoakRun(SoakOptions options)
{
    private const string Tenant = "soak";
    private const int PointsPerRequest = 500;

    /// <summary>Errors are sent for the first part of every cycle, so the rule fires and resolves repeatedly.</summary>
    private static readonly TimeSpan ErrorCycle = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan ErrorPhase = TimeSpan.FromSeconds(25);

    private readonly ConcurrentDictionary<string, string> _delivered = new();
    private readonly ConcurrentDictionary<string, long> _refusals = new();
    private long _acknowledged;
    private long _unknown;
    private long _sent;
    private long _maxRss;
    private int _pid;

    public static async Task<int> MainAsync(string[] args)
    {
        SoakOptions options;
        try
        {
            options = SoakOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"vigil-load soak: {e.Message}");
            Console.Error.WriteLine();
            Console.Error.WriteLine(SoakOptions.Usage);
            return 2;
        }

        return await new SoakRun(options).RunAsync();
    }

    private async Task<int> RunAsync()
    {
        var dir = Directory.CreateTempSubdirectory("vigil-soak-").FullName;
        var ports = FreePorts(4);
        using var webhook = new HttpListener();
        webhook.Prefixes.Add($"http://127.0.0.1:{ports[3]}/hook/");
        webhook.Start();
        var hookTask = ServeWebhookAsync(webhook);
        var config = WriteConfig(dir, ports);
        var api = new Uri($"http://127.0.0.1:{ports[2]}");
        using var client = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
        using var otlp = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(30) }) { Timeout = TimeSpan.FromSeconds(30) };
        var otlpUri = new Uri($"http://127.0.0.1:{ports[1]}/v1/metrics");
        Process? collector = null;
        try
        {
            collector = await StartAsync(config, client);
            var clock = Stopwatch.StartNew();
            using var stop = new CancellationTokenSource();
            var current = collector;
            _pid = current.Id;
            var sampler = SampleRssAsync(stop.Token);
            var workers = Enumerable.Range(0, options.Concurrency).Select(w => SendLoopAsync(w, otlp, otlpUri, clock, stop.Token)).ToArray();

            // kill -9 after half the run, the moment the rule fires (the worst time for its event), or at
            // three quarters if it does not fire by then: what was acknowledged must be there after the restart.
            await Task.Delay(options.Duration / 2);
            var firing = await WaitForFiringAsync(client, options.Duration * 3 / 4 - clock.Elapsed);
            Console.WriteLine($"soak: {clock.Elapsed:mm\\:ss} kill -9 pid {current.Id} {(firing ? "just after SoakErrorsSeen fired" : "(the rule did not fire in time)")}, {Interlocked.Read(ref _acknowledged)} points acknowledged so far");
            _pid = 0;
            current.Kill(entireProcessTree: true);
            await current.WaitForExitAsync();
            current.Dispose();
            current = collector = await StartAsync(config, client);
            _pid = current.Id;
            Console.WriteLine($"soak: {clock.Elapsed:mm\\:ss} restarted as pid {current.Id}");

            await Task.Delay(options.Duration - clock.Elapsed is { Ticks: > 0 } rest ? rest : TimeSpan.Zero);
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            await sampler;
            Console.WriteLine($"soak: {clock.Elapsed:mm\\:ss} load stopped; checking");

            var problems = new List<string>();
            await CheckPointsAsync(client, clock.Elapsed, problems);
            CheckMemory(problems);
            await CheckAlertsAsync(client, problems);
            foreach (var problem in problems)
            {
                Console.WriteLine($"soak: FAIL {problem}");
            }

            Console.WriteLine(problems.Count == 0 ? "soak: PASS" : $"soak: {problems.Count} check(s) failed");
            return problems.Count == 0 ? 0 : 1;
        }
        finally
        {
            if (collector is { HasExited: false })
            {
                collector.Kill(entireProcessTree: true);
                await collector.WaitForExitAsync();
            }

            collector?.Dispose();
            webhook.Stop();
            await hookTask;
            if (!options.KeepData)
            {
                Directory.Delete(dir, recursive: true);
            }
            else
            {
                Console.WriteLine($"soak: data kept in {dir}");
            }
        }
    }

    private async Task SendLoopAsync(int worker, HttpClient otlp, Uri uri, Stopwatch clock, CancellationToken stop)
    {
        // Each worker owns every Concurrency-th series, so no two requests in flight carry the same series.
        var next = worker;
        while (!stop.IsCancellationRequested)
        {
            var errors = clock.Elapsed.Ticks % ErrorCycle.Ticks < ErrorPhase.Ticks;
            var (body, points) = Request(ref next, worker, errors);
            Interlocked.Add(ref _sent, points);
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
            try
            {
                using var response = await otlp.PostAsync(uri, content, stop);
                var answer = await response.Content.ReadAsByteArrayAsync(stop);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    var partial = ExportMetricsServiceResponse.Parser.ParseFrom(answer).PartialSuccess;
                    var rejected = partial?.RejectedDataPoints ?? 0;
                    Interlocked.Add(ref _acknowledged, points - rejected);
                    if (rejected > 0)
                    {
                        // Keyed by the message's start, so the summary says why.
                        var reason = partial!.ErrorMessage.Length > 120 ? partial.ErrorMessage[..120] : partial.ErrorMessage;
                        _refusals.AddOrUpdate($"partial_success ({reason})", rejected, (_, n) => n + rejected);
                    }
                }
                else
                {
                    _refusals.AddOrUpdate($"http {(int)response.StatusCode}", points, (_, n) => n + points);
                    if (response.Headers.RetryAfter?.Delta is { } delay)
                    {
                        await Task.Delay(delay < TimeSpan.FromSeconds(5) ? delay : TimeSpan.FromSeconds(5), stop);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Sent but never answered: it may or may not be stored.
                Interlocked.Add(ref _unknown, points);
                return;
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
            {
                // The collector died mid-request (the kill): stored or not, it was never acknowledged.
                Interlocked.Add(ref _unknown, points);
                await Task.Delay(200, CancellationToken.None);
            }
        }
    }

    private (byte[] Body, long Points) Request(ref int next, int worker, bool errors)
    {
        var now = DateTimeOffset.UtcNow;
        var time = (ulong)(now.ToUnixTimeMilliseconds() * 1_000_000);
        var start = time - 1_000_000_000;
        var sum = new Sum { AggregationTemporality = AggregationTemporality.Delta, IsMonotonic = true };
        for (var i = 0; i < PointsPerRequest; i++)
        {
            var point = new NumberDataPoint { StartTimeUnixNano = start, TimeUnixNano = time, AsInt = 1 };
            point.Attributes.Add(new KeyValue { Key = "soak.series", Value = new AnyValue { StringValue = next.ToString(CultureInfo.InvariantCulture) } });
            sum.DataPoints.Add(point);
            next += options.Concurrency;
            if (next >= options.Series)
            {
                next = worker;
            }
        }

        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "vigil-load-soak" } };
        scope.Metrics.Add(new Metric { Name = "soak.points", Unit = "{point}", Sum = sum });
        var points = (long)PointsPerRequest;
        if (errors && worker == 0)
        {
            var errorSum = new Sum { AggregationTemporality = AggregationTemporality.Delta, IsMonotonic = true };
            errorSum.DataPoints.Add(new NumberDataPoint { StartTimeUnixNano = start, TimeUnixNano = time, AsInt = 1 });
            scope.Metrics.Add(new Metric { Name = "soak.errors", Unit = "{error}", Sum = errorSum });
        }

        var resource = new Resource();
        resource.Attributes.Add(new KeyValue { Key = "tenant.id", Value = new AnyValue { StringValue = Tenant } });
        resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "soak" } });
        var request = new ExportMetricsServiceRequest { ResourceMetrics = { new ResourceMetrics { Resource = resource, ScopeMetrics = { scope } } } };
        return (request.ToByteArray(), points);
    }

    private async Task CheckPointsAsync(HttpClient client, TimeSpan elapsed, List<string> problems)
    {
        var window = DurationText(elapsed + TimeSpan.FromMinutes(2));
        using var document = JsonDocument.Parse(await client.GetStringAsync($"/api/v1/aggregate?metric=soak.points&fn=increase&window={window}"));
        var stored = document.RootElement.GetProperty("data").EnumerateArray().Sum(r => r.GetProperty("value").GetDouble());
        var acknowledged = Interlocked.Read(ref _acknowledged);
        var unknown = Interlocked.Read(ref _unknown);
        var refusals = string.Join(", ", _refusals.Select(r => $"{r.Key}: {r.Value}"));
        Console.WriteLine($"soak: points sent {Interlocked.Read(ref _sent)}, acknowledged {acknowledged}, unanswered {unknown}, refused {{{refusals}}}, stored {stored}");
        if (stored < acknowledged)
        {
            problems.Add($"{acknowledged - stored} acknowledged points are missing (stored {stored} < acknowledged {acknowledged})");
        }

        if (stored > acknowledged + unknown)
        {
            problems.Add($"stored {stored} points, more than acknowledged {acknowledged} + unanswered {unknown}: something was counted twice");
        }
    }

    private void CheckMemory(List<string> problems)
    {
        var max = Interlocked.Read(ref _maxRss);
        Console.WriteLine($"soak: collector max RSS {max / (1024 * 1024)} MiB (ceiling {options.MemoryCeiling / (1024 * 1024)} MiB)");
        if (max > options.MemoryCeiling)
        {
            problems.Add($"RSS reached {max / (1024 * 1024)} MiB, over the {options.MemoryCeiling / (1024 * 1024)} MiB ceiling");
        }
    }

    private async Task CheckAlertsAsync(HttpClient client, List<string> problems)
    {
        // Errors stopped with the load: wait for the alert to resolve and for every event to be delivered.
        var deadline = Stopwatch.StartNew();
        string[] missing = [];
        var events = 0;
        while (deadline.Elapsed < TimeSpan.FromMinutes(3))
        {
            using var history = JsonDocument.Parse(await client.GetStringAsync("/api/v1/alerts/history?rule=SoakErrorsSeen&limit=10000"));
            var ids = history.RootElement.GetProperty("data").EnumerateArray()
                .Select(entry => entry.GetProperty("event"))
                .Select(e => (Id: e.GetProperty("id").GetString()!, Status: e.GetProperty("status").GetString()!, At: e.GetProperty("timestamp").GetDateTimeOffset()))
                .ToArray();
            events = ids.Length;
            missing = ids.Where(e => !_delivered.ContainsKey(e.Id)).Select(e => $"{e.Id} ({e.Status})").ToArray();
            var resolvedLast = ids.Length > 0 && ids.MaxBy(e => e.At).Status == "resolved";
            if (missing.Length == 0 && ids.Any(e => e.Status == "resolved") && resolvedLast)
            {
                break;
            }

            await Task.Delay(1000);
        }

        var firing = _delivered.Count(d => d.Value == "firing");
        var resolved = _delivered.Count(d => d.Value == "resolved");
        Console.WriteLine($"soak: alert events in history {events}, delivered to the webhook {_delivered.Count} ({firing} firing, {resolved} resolved)");
        if (missing.Length > 0)
        {
            problems.Add($"{missing.Length} alert events never reached the webhook: {string.Join(", ", missing.Take(10))}");
        }

        if (firing == 0 || resolved == 0)
        {
            problems.Add($"expected SoakErrorsSeen to fire and resolve at least once; the webhook got {firing} firing and {resolved} resolved events");
        }
    }

    private static async Task<bool> WaitForFiringAsync(HttpClient client, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < within)
        {
            using var alerts = JsonDocument.Parse(await client.GetStringAsync("/api/v1/alerts"));
            var data = alerts.RootElement.GetProperty("data");
            var list = data.ValueKind == JsonValueKind.Object && data.TryGetProperty("alerts", out var inner) ? inner : data;
            if (list.EnumerateArray().Any(a => a.GetProperty("state").GetString() == "firing"))
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    private async Task ServeWebhookAsync(HttpListener listener)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                using var body = await JsonDocument.ParseAsync(context.Request.InputStream);
                foreach (var alert in body.RootElement.GetProperty("alerts").EnumerateArray())
                {
                    var vigil = alert.GetProperty("vigil");
                    _delivered[vigil.GetProperty("id").GetString()!] = alert.GetProperty("status").GetString()!;
                }

                context.Response.StatusCode = 200;
            }
            catch (JsonException)
            {
                context.Response.StatusCode = 400;
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private async Task SampleRssAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var pid = Volatile.Read(ref _pid);
            var rss = pid == 0 ? 0 : ReadRss(pid);
            if (rss > Interlocked.Read(ref _maxRss))
            {
                Interlocked.Exchange(ref _maxRss, rss);
            }

            try
            {
                await Task.Delay(250, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>VmRSS from /proc (Linux); 0 when the process is gone (between the kill and the restart).</summary>
    private static long ReadRss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>
    /// The collector's config: loopback ports, the soak rule, the webhook, and room for every soak series in
    /// one metric (past <c>storage.max_series_per_metric</c> points would go to the overflow series, stored
    /// yet reported refused, and the totals check could not tell them apart).
    /// </summary>
    private string WriteConfig(string dir, int[] ports)
    {
        var rules = Directory.CreateDirectory(Path.Combine(dir, "rules")).FullName;
        File.WriteAllText(Path.Combine(rules, "soak.yaml"), """
            group: soak
            interval: 10s
            rules:
              - alert: SoakErrorsSeen
                severity: P2
                runbook_url: https://runbooks.vigil.example/soak
                summary: "{{ $value }} soak errors in 30s for tenant {{ $labels.tenant.id }}"
                increase: soak.errors
                by: [tenant.id]
                window: 30s
                threshold: ">= 1"
                no_data: ok
            """);
        var config = Path.Combine(dir, "vigil.yaml");
        File.WriteAllText(config, $"""
            server:
              otlp_grpc: 127.0.0.1:{ports[0]}
              otlp_http: 127.0.0.1:{ports[1]}
              http: 127.0.0.1:{ports[2]}
            data_dir: {Path.Combine(dir, "data")}
            rules:
              dir: {rules}
            storage:
              max_series_per_metric: {options.Series + 1}
            ingest:
              memory_limit: {options.MemoryCeiling / 2 / (1024 * 1024)}MiB
            alerting:
              evaluation_interval: 10s
              retry:
                initial_backoff: 1s
                max_backoff: 5s
              webhooks:
                - name: soak
                  url: "http://127.0.0.1:{ports[3]}/hook/"
                  secret: soak-webhook-secret-0123456789
            """);
        return config;
    }

    private async Task<Process> StartAsync(string config, HttpClient client)
    {
        var dll = options.CollectorDll ?? SpawnedCollector.FindCollector();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { dll, "--config", config })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var log = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => Keep(log, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
        {
            try
            {
                using var ready = await client.GetAsync("/readyz");
                if (ready.IsSuccessStatusCode)
                {
                    return process;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }

        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        throw new InvalidOperationException($"collector did not become ready within 60 s; its last output:\n{string.Join('\n', log)}");
    }

    private static void Keep(ConcurrentQueue<string> log, string? line)
    {
        if (line is null)
        {
            return;
        }

        log.Enqueue(line);
        while (log.Count > 50 && log.TryDequeue(out _))
        {
        }
    }

    private static string DurationText(TimeSpan duration) => $"{(int)Math.Ceiling(duration.TotalMinutes)}m";

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (var listener in listeners)
            {
                listener.Start();
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}
