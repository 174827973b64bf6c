namespace Vigil.Collector.Tests;

/// <summary>Editing a file in the rules directory reloads the rules without any call.</summary>
public sealed class RuleReloadTests
{
    [Fact]
    public async Task EditingARuleFile_ReloadsThroughTheWatcher()
    {
        var root = VigilServer.NewDataDir();
        var rulesDir = Path.Combine(root, "rules");
        Directory.CreateDirectory(rulesDir);
        var file = Path.Combine(rulesDir, "team.yaml");
        await File.WriteAllTextAsync(file, TeamRule("FirstName"));
        try
        {
            await using var vigil = await VigilServer.StartAsync(o => o with { RulesDir = rulesDir });
            using var api = new VigilApi(vigil.HttpUri);
            Assert.Equal(["FirstName"], await RuleNamesAsync(api));

            await File.WriteAllTextAsync(file, TeamRule("SecondName"));
            var deadline = DateTime.UtcNow.AddSeconds(15);
            var names = await RuleNamesAsync(api);
            while (!names.SequenceEqual(["SecondName"]) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
                names = await RuleNamesAsync(api);
            }

            Assert.Equal(["SecondName"], names);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Reload_OfAFileOverTheConfiguredSizeLimit_IsRefused_AndTheLastGoodRulesKeepRunning()
    {
        var root = VigilServer.NewDataDir();
        var rulesDir = Path.Combine(root, "rules");
        Directory.CreateDirectory(rulesDir);
        var file = Path.Combine(rulesDir, "team.yaml");
        var limits = new Vigil.Rules.RuleLimits { MaxFileBytes = 4096 };
        await File.WriteAllTextAsync(file, TeamRule("FirstName"));
        try
        {
            await using var vigil = await VigilServer.StartAsync(o => o with { RulesDir = rulesDir, RuleLimits = limits });
            using var api = new VigilApi(vigil.HttpUri);
            using var http = new HttpClient { BaseAddress = vigil.HttpUri };
            Assert.Equal(["FirstName"], await RuleNamesAsync(api));

            // A valid file, but padded past the limit.
            await File.WriteAllTextAsync(file, TeamRule("SecondName") + "\n# " + new string('x', 8192) + "\n");
            var size = new FileInfo(file).Length;
            using var reload = await http.PostAsync("/-/reload", null);

            Assert.Equal(System.Net.HttpStatusCode.BadRequest, reload.StatusCode);
            using var body = System.Text.Json.JsonDocument.Parse(await reload.Content.ReadAsStringAsync());
            Assert.Equal(
                $"{file}:1:1: rule file is {size:N0} bytes, over the limit of {limits.MaxFileBytes:N0} (rules.max_file_size) (split it into smaller files, or raise rules.max_file_size)",
                Assert.Single(body.RootElement.GetProperty("problems").EnumerateArray()).GetString());
            Assert.Equal(["FirstName"], await RuleNamesAsync(api));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Reload_WithAnAdminToken_NeedsTheBearerToken()
    {
        const string token = "an-admin-token-long-enough";
        await using var vigil = await VigilServer.StartAsync(o => o with { AdminToken = token });
        using var http = new HttpClient { BaseAddress = vigil.HttpUri };

        using (var anonymous = await http.PostAsync("/-/reload", null))
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Contains("admin token", await anonymous.Content.ReadAsStringAsync());
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "/-/reload") { Headers = { Authorization = new("Bearer", "not-the-admin-token") } })
        using (var denied = await http.SendAsync(wrong))
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, denied.StatusCode);
        }

        using var right = new HttpRequestMessage(HttpMethod.Post, "/-/reload") { Headers = { Authorization = new("Bearer", token) } };
        using var allowed = await http.SendAsync(right);
        Assert.Equal(System.Net.HttpStatusCode.OK, allowed.StatusCode);
    }

    private static string TeamRule(string alert) => $"""
        group: team
        interval: 30s
        rules:
          - alert: {alert}
            severity: P2
            runbook_url: https://runbooks.example.com/team
            rate: auth.requests
            threshold: "> 100"
        """;

    private static async Task<List<string>> RuleNamesAsync(VigilApi api)
    {
        var body = await api.GetJsonAsync("/api/v1/rules");
        return body.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => r.GetProperty("name").GetString()!)
            .ToList();
    }
}
