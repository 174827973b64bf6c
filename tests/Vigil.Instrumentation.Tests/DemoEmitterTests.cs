using Microsoft.Extensions.Time.Testing;
using OpenTelemetry.Exporter;
using Vigil.Demo;

namespace Vigil.Instrumentation.Tests;

public sealed class DemoEmitterTests
{
    [Fact]
    public async Task StartInProcess_ExportsDemoTrafficOverOtlp_AndStopsOnDispose()
    {
        await using var sink = await OtlpSink.StartAsync();
        var options = new DemoOptions
        {
            MeterName = "test." + Guid.NewGuid().ToString("N"),
            Protocol = OtlpExportProtocol.HttpProtobuf,
            ExportInterval = TimeSpan.FromMilliseconds(200),
            Tick = TimeSpan.FromMilliseconds(200),
        };

        var run = DemoEmitter.StartInProcess(sink.BaseAddress, options);
        try
        {
            var request = await sink.WaitForAsync("tenant.requests", TimeSpan.FromSeconds(30));
            Assert.Equal("/v1/metrics", request.Path);
            Assert.True(request.Mentions("vigil-demo"), "the resource names the demo service");
        }
        finally
        {
            await run.DisposeAsync();
        }

        await run.DisposeAsync(); // a second dispose is harmless
    }

    [Fact]
    public async Task RunAsync_OnAFakeClock_EmitsTheTrafficOfTheTimeThatPassed()
    {
        var meterName = "test." + Guid.NewGuid().ToString("N");
        using var capture = new MetricCapture(meterName);
        using var telemetry = new VigilTelemetry(meterName);
        var clock = new FakeTimeProvider();
        var options = new DemoOptions { TimeProvider = clock, Tenants = ["acme"], Cycle = [Scenario.CrossTenantProbe] };
        using var stop = new CancellationTokenSource();

        var run = new DemoEmitter(telemetry).RunAsync(options, stop.Token);
        for (var i = 0; i < 10; i++)
        {
            clock.Advance(options.Tick);
        }

        // Ticks are coalesced by PeriodicTimer; the emitter catches up on the time that passed when it next runs.
        await stop.CancelAsync();
        await run;

        var points = capture.Collect();
        var probes = points.Where(p => p.Name == "tenant.requests" && p.Attributes.GetValueOrDefault("tenant.denial_class") == "cross_tenant").Sum(p => p.Value);
        var emittedSeconds = probes / DemoTraffic.ProbeCrossTenantDenials;
        Assert.InRange(emittedSeconds, 1, 10);
        Assert.Contains(points, p => p.Name == "auth.requests" && p.Attributes["tenant.id"] == "acme");
    }
}

public sealed class DemoScheduleTests
{
    [Fact]
    public void DefaultCycle_StartsWithTheFastestAlert_AndAlternatesIncidentsWithCalm()
    {
        var schedule = new DemoSchedule(new DemoOptions());

        var phases = Phases(schedule, schedule.CycleLength);

        Assert.Equal(
            [Scenario.CrossTenantProbe, Scenario.Normal, Scenario.AuthFailureBurst, Scenario.Normal, Scenario.AiFailureSpike, Scenario.Normal, Scenario.CostSpike, Scenario.Normal],
            phases.Select(p => p.Scenario));
        Assert.Equal(TimeSpan.Zero, phases[0].Start);
        Assert.Equal(ScenarioInfo.Of(Scenario.CostSpike).DefaultLength, phases[6].Length);
        Assert.All(phases, p => Assert.Equal("acme", p.TargetTenant));
    }

    [Fact]
    public void EachCycle_TargetsTheNextTenant()
    {
        var schedule = new DemoSchedule(new DemoOptions { Tenants = ["a", "b"] });

        Assert.Equal("a", schedule.PhaseAt(TimeSpan.Zero).TargetTenant);
        Assert.Equal("b", schedule.PhaseAt(schedule.CycleLength).TargetTenant);
        Assert.Equal("a", schedule.PhaseAt(schedule.CycleLength * 2 + TimeSpan.FromSeconds(1)).TargetTenant);
        Assert.Equal(1, schedule.PhaseAt(schedule.CycleLength).Cycle);
    }

    [Fact]
    public void ScenarioLength_OverridesEveryIncident_AndCalmLengthTheGaps()
    {
        var schedule = new DemoSchedule(new DemoOptions
        {
            Cycle = [Scenario.AuthFailureBurst, Scenario.CostSpike],
            ScenarioLength = TimeSpan.FromSeconds(30),
            CalmLength = TimeSpan.FromSeconds(5),
        });

        Assert.Equal(TimeSpan.FromSeconds(70), schedule.CycleLength);
        Assert.Equal(new DemoPhase(Scenario.CostSpike, "acme", TimeSpan.FromSeconds(35), TimeSpan.FromSeconds(30), 0), schedule.PhaseAt(TimeSpan.FromSeconds(40)));
    }

    [Fact]
    public void InvalidOptions_AreRefusedWithEveryProblem()
    {
        var error = Assert.Throws<ArgumentException>(() => new DemoSchedule(new DemoOptions { Cycle = [], Tenants = [], Tick = TimeSpan.Zero }));

        Assert.Contains("Cycle", error.Message, StringComparison.Ordinal);
        Assert.Contains("Tenants", error.Message, StringComparison.Ordinal);
        Assert.Contains("Tick", error.Message, StringComparison.Ordinal);
    }

    private static List<DemoPhase> Phases(DemoSchedule schedule, TimeSpan until)
    {
        var phases = new List<DemoPhase>();
        for (var at = TimeSpan.Zero; at < until; at = phases[^1].End)
        {
            phases.Add(schedule.PhaseAt(at));
        }

        return phases;
    }
}

public sealed class DemoCommandLineTests
{
    [Fact]
    public void WithoutDemoEmit_ThereIsNoDemoCommand()
    {
        Assert.Equal((null, null), DemoCommandLine.Parse(["--http", "127.0.0.1:9190"]));
    }

    [Theory]
    [InlineData("--demo-emit", "http://otel-agent:4317")]
    [InlineData("--demo-emit=http://otel-agent:4317", null)]
    public void DemoEmit_TakesTheEndpoint(string flag, string? value)
    {
        var (command, error) = DemoCommandLine.Parse(value is null ? [flag] : [flag, value]);

        Assert.Null(error);
        Assert.Equal(new Uri("http://otel-agent:4317"), command!.Endpoint);
        Assert.Null(command.Options.ScenarioLength);
    }

    [Fact]
    public void ScenarioLength_SetsEveryIncidentLength()
    {
        var (command, _) = DemoCommandLine.Parse(["--demo-scenario-length", "90", "--demo-emit", "http://vigil:4318"]);

        Assert.Equal(TimeSpan.FromSeconds(90), command!.Options.ScenarioLength);
    }

    [Theory]
    [InlineData("--demo-emit", "otel-agent:4317", "--demo-emit needs an OTLP endpoint URL")]
    [InlineData("--demo-emit", null, "--demo-emit needs an OTLP endpoint URL")]
    [InlineData("--demo-scenario-length", "soon", "--demo-scenario-length needs a number of seconds")]
    public void BadValues_AreReportedWithTheFlag(string flag, string? value, string expected)
    {
        string[] args = value is null ? [flag] : [flag, value, "--demo-emit", "http://x:4317"];

        var (command, error) = DemoCommandLine.Parse(args);

        Assert.Null(command);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }
}
