namespace Vigil.Alerting.Tests;

public sealed class AlertingOptionsTests
{
    [Fact]
    public void Defaults_AreValid_AndMatchTheDocumentedPolicy()
    {
        var options = new AlertingOptions();

        Assert.Empty(options.Validate());
        Assert.Equal((TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), TimeSpan.FromHours(24)),
            (options.Retry.InitialBackoff, options.Retry.MaxBackoff, options.Retry.MaxAge));
        Assert.Equal(TimeSpan.FromMinutes(1), options.ResendInterval);
        Assert.Equal(TimeSpan.FromMinutes(4), options.AlertmanagerValidity);
    }

    [Fact]
    public void Validate_ReportsEveryProblem_WithItsConfigPath()
    {
        var options = new AlertingOptions
        {
            ExternalUrl = "vigil.local",
            Alertmanagers = [new AlertmanagerOptions { Url = "http://am:9093" }, new AlertmanagerOptions { Url = "am:9093", Timeout = TimeSpan.Zero }],
            Webhooks =
            [
                new WebhookOptions { Name = "pager", Url = "https://pager.example.com/hook", Secret = "0123456789abcdef" },
                new WebhookOptions { Name = "pager", Url = "ftp://x", Secret = "short", Severities = ["P1", "critical"] },
            ],
            OtlpLogs = [new OtlpLogsOptions { Endpoint = "http://otel:4317", Protocol = "http/json" }],
            Retry = new RetryOptions { InitialBackoff = TimeSpan.FromMinutes(10), MaxBackoff = TimeSpan.FromMinutes(5) },
        };

        var problems = options.Validate();

        Assert.Collection(problems,
            p => Assert.StartsWith("alerting.external_url: ", p, StringComparison.Ordinal),
            p => Assert.StartsWith("alerting.retry.max_backoff: ", p, StringComparison.Ordinal),
            p => Assert.StartsWith("alerting.alertmanagers[1].url: ", p, StringComparison.Ordinal),
            p => Assert.StartsWith("alerting.alertmanagers[1].timeout: ", p, StringComparison.Ordinal),
            p => Assert.StartsWith("alerting.webhooks[1].url: ", p, StringComparison.Ordinal),
            p => Assert.StartsWith("alerting.webhooks[1].secret: ", p, StringComparison.Ordinal),
            p => Assert.StartsWith("alerting.webhooks[1].severities[1]: 'critical'", p, StringComparison.Ordinal),
            p => Assert.StartsWith("alerting.otlp_logs[0].protocol: 'http/json'", p, StringComparison.Ordinal),
            p => Assert.StartsWith("alerting.webhooks[1].name: receiver 'webhook:pager' is already configured at alerting.webhooks[0].name", p, StringComparison.Ordinal));
    }

    [Fact]
    public void FromAlertmanagerUrls_MakesOneIndependentReceiverPerFlag()
    {
        var options = AlertingOptions.FromAlertmanagerUrls(["http://am-1:9093", "http://am-2:9093/"], "https://vigil.example.com");

        Assert.Empty(options.Validate());
        Assert.Equal(["alertmanager:http://am-1:9093", "alertmanager:http://am-2:9093"], options.Alertmanagers.Select(a => a.ReceiverName));
        Assert.Equal("https://vigil.example.com", options.ExternalUrl);
    }

    [Fact]
    public void InvalidOptions_AreRefusedByTheService_WithAllProblems()
    {
        using var dir = new TempDir();
        var options = new AlertingOptions { Webhooks = [new WebhookOptions { Name = "x", Url = "nope", Secret = "" }] };

        var ex = Assert.Throws<ArgumentException>(() => new AlertingService(options, dir.Path, TimeProvider.System));

        Assert.Contains("alerting.webhooks[0].url", ex.Message, StringComparison.Ordinal);
        Assert.Contains("alerting.webhooks[0].secret", ex.Message, StringComparison.Ordinal);
    }
}
