using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Vigil.Instrumentation;

/// <summary>
/// Typed helpers that emit the DESIGN §4 conventions on one <see cref="Meter"/>, so a service cannot
/// misspell a metric, an attribute or an enum value that a rule selects on. Register the meter with
/// <c>services.AddVigilInstrumentation(...)</c> or <c>MeterProviderBuilder.AddVigilInstrumentation(...)</c>.
/// Thread-safe: the instruments are.
/// </summary>
public sealed class VigilTelemetry : IDisposable
{
    public const string DefaultMeterName = "Vigil.Instrumentation";

    // Boundaries from the OpenTelemetry GenAI semantic conventions for these two histograms.
    internal static readonly double[] DurationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
    internal static readonly long[] TokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _authRequests;
    private readonly Counter<long> _tenantRequests;
    private readonly Counter<long> _workspaceTransitions;
    private readonly Counter<long> _aiRuns;
    private readonly Counter<double> _aiRunCost;
    private readonly Histogram<long> _tokenUsage;
    private readonly Histogram<double> _aiRunDuration;

    /// <summary>Creates and owns a meter named <paramref name="meterName"/>.</summary>
    public VigilTelemetry(string meterName = DefaultMeterName)
        : this(new Meter(meterName), ownsMeter: true)
    {
    }

    /// <summary>Creates the meter through the host's <see cref="IMeterFactory"/> (which owns it).</summary>
    public VigilTelemetry(IMeterFactory meterFactory, string meterName = DefaultMeterName)
        : this(meterFactory.Create(meterName), ownsMeter: false)
    {
    }

    /// <summary>Uses a meter the caller owns.</summary>
    public VigilTelemetry(Meter meter)
        : this(meter, ownsMeter: false)
    {
    }

    private VigilTelemetry(Meter meter, bool ownsMeter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _meter = meter;
        _ownsMeter = ownsMeter;
        _authRequests = meter.CreateCounter<long>(VigilMetricNames.AuthRequests, "{request}", "Authentication attempts by tenant, method and outcome");
        _tenantRequests = meter.CreateCounter<long>(VigilMetricNames.TenantRequests, "{request}", "Tenant-isolation decisions on requests");
        _workspaceTransitions = meter.CreateCounter<long>(VigilMetricNames.WorkspaceTransitions, "{transition}", "Workspace lifecycle transitions, anomalous or not");
        _aiRuns = meter.CreateCounter<long>(VigilMetricNames.AiRuns, "{run}", "AI runs by final status");
        _aiRunCost = meter.CreateCounter<double>(VigilMetricNames.AiRunCost, "USD", "Cost of AI runs");
        _tokenUsage = meter.CreateHistogram(
            VigilMetricNames.GenAiTokenUsage, "{token}", "Tokens used per AI run, by token type",
            tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = TokenBuckets });
        _aiRunDuration = meter.CreateHistogram(
            VigilMetricNames.AiRunDuration, "s", "Duration of AI runs",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
    }

    /// <summary>The meter name a MeterProvider must listen to.</summary>
    public string MeterName => _meter.Name;

    /// <summary>One authentication attempt: <c>auth.requests</c> +1.</summary>
    public void AuthAttempt(string tenantId, string method, AuthOutcome outcome)
    {
        Require(tenantId, nameof(tenantId));
        Require(method, nameof(method));
        var tags = new TagList
        {
            { VigilAttributes.TenantId, tenantId },
            { VigilAttributes.AuthMethod, method },
            { VigilAttributes.AuthOutcome, outcome.ToAttributeValue() },
        };
        _authRequests.Add(1, tags);
    }

    /// <summary>
    /// One tenant-isolation decision: <c>tenant.requests</c> +1. A denial needs its class
    /// (<see cref="TenantDenialClasses"/>); an allowed request has none.
    /// </summary>
    public void TenantDecision(string tenantId, TenantDecisionOutcome decision, string? denialClass, string httpRoute)
    {
        Require(tenantId, nameof(tenantId));
        Require(httpRoute, nameof(httpRoute));
        var tags = new TagList
        {
            { VigilAttributes.TenantId, tenantId },
            { VigilAttributes.TenantDecision, decision.ToAttributeValue() },
            { VigilAttributes.HttpRoute, httpRoute },
        };
        if (decision == TenantDecisionOutcome.Denied)
        {
            if (string.IsNullOrWhiteSpace(denialClass))
            {
                throw new ArgumentException("a denied request needs tenant.denial_class (e.g. TenantDenialClasses.CrossTenant)", nameof(denialClass));
            }

            tags.Add(VigilAttributes.TenantDenialClass, denialClass);
        }
        else if (denialClass is not null)
        {
            throw new ArgumentException($"an allowed request has no denial class (got '{denialClass}')", nameof(denialClass));
        }

        _tenantRequests.Add(1, tags);
    }

    /// <summary>One workspace lifecycle transition (e.g. created, suspended, deleted): <c>workspace.lifecycle.transitions</c> +1.</summary>
    public void WorkspaceTransition(string tenantId, string workspaceId, string transition, bool anomaly)
    {
        Require(tenantId, nameof(tenantId));
        Require(workspaceId, nameof(workspaceId));
        Require(transition, nameof(transition));
        var tags = new TagList
        {
            { VigilAttributes.TenantId, tenantId },
            { VigilAttributes.WorkspaceId, workspaceId },
            { VigilAttributes.WorkspaceTransition, transition },
            { VigilAttributes.WorkspaceAnomaly, anomaly.ToAttributeValue() },
        };
        _workspaceTransitions.Add(1, tags);
    }

    /// <summary>
    /// One finished AI run: <c>ai.runs</c> +1, <c>ai.run.cost</c> +<paramref name="costUsd"/>,
    /// <c>ai.run.duration</c>, and one <c>gen_ai.client.token.usage</c> observation per token type that
    /// was used (a count of 0, e.g. a run blocked before the model was called, is not an observation).
    /// </summary>
    public void AiRun(
        string tenantId,
        string workspaceId,
        string model,
        AiRunStatus status,
        long inputTokens,
        long outputTokens,
        double costUsd,
        TimeSpan duration)
    {
        Require(tenantId, nameof(tenantId));
        Require(workspaceId, nameof(workspaceId));
        Require(model, nameof(model));
        ArgumentOutOfRangeException.ThrowIfNegative(inputTokens);
        ArgumentOutOfRangeException.ThrowIfNegative(outputTokens);
        if (!double.IsFinite(costUsd) || costUsd < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(costUsd), costUsd, "a cost is a finite, non-negative USD amount");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);

        var cost = new TagList
        {
            { VigilAttributes.TenantId, tenantId },
            { VigilAttributes.WorkspaceId, workspaceId },
            { VigilAttributes.GenAiRequestModel, model },
        };
        var run = cost;
        run.Add(VigilAttributes.AiRunStatus, status.ToAttributeValue());

        _aiRuns.Add(1, run);
        _aiRunCost.Add(costUsd, cost);
        _aiRunDuration.Record(duration.TotalSeconds, run);
        RecordTokens(inputTokens, "input", workspaceId, model);
        RecordTokens(outputTokens, "output", workspaceId, model);
    }

    private void RecordTokens(long tokens, string type, string workspaceId, string model)
    {
        if (tokens == 0)
        {
            return;
        }

        _tokenUsage.Record(tokens, new TagList
        {
            { VigilAttributes.GenAiTokenType, type },
            { VigilAttributes.GenAiRequestModel, model },
            { VigilAttributes.WorkspaceId, workspaceId },
        });
    }

    private static void Require(string value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ArgumentException($"{name} must be a non-empty attribute value", name);
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
