using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Vigil.Instrumentation.Tests;

/// <summary>
/// docker-compose.yml, collector/Dockerfile and otel-config/ cannot be run here (no Docker): these tests hold them
/// to what can be checked without it — they parse, every file they name exists, and the services they point at
/// are the ones the compose file defines.
/// </summary>
public sealed class DeploymentConfigTests
{
    private static readonly Lazy<YamlMappingNode> Compose = new(() => Yaml.Load("docker-compose.yml"));

    public static TheoryData<string> OtelConfigYamlFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(RepoPaths.Of("otel-config"), "*.*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(RepoPaths.Root, file).Replace('\\', '/'));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(OtelConfigYamlFiles))]
    public void OtelConfigYaml_Parses(string file)
    {
        var root = Yaml.Load(file);

        Assert.NotEmpty(root.Children);
    }

    [Fact]
    public void OtelConfig_HasEveryExpectedFile()
    {
        string[] expected =
        [
            "otel-config/grafana/provisioning/datasources/vigil.yaml",
            "otel-config/grafana/provisioning/dashboards/dashboards.yaml",
            "otel-config/grafana/dashboards/auth.json",
            "otel-config/grafana/dashboards/tenant.json",
            "otel-config/grafana/dashboards/ai.json",
            "otel-config/prometheus/prometheus.yml",
            "otel-config/prometheus/global.yml",
            "otel-config/vigil/vigil.yaml",
            "otel-config/run-local.sh",
            "otel-config/alertmanager/alertmanager.yml",
            "otel-config/collector/agent.yaml",
            "otel-config/collector/gateway.yaml",
            "otel-config/sdk/env.example",
        ];

        Assert.All(expected, f => Assert.True(File.Exists(RepoPaths.Of(f)), $"{f} is missing"));
    }

    [Fact]
    public void Compose_DefinesTheWholeStack_AndEveryDependencyIsAService()
    {
        var services = Services();

        Assert.Equal(["alertmanager", "demo", "grafana", "otel-agent", "prometheus", "victoria", "vigil"], services.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, service) in services)
        {
            Assert.True(service.Get("image") is not null || service.Get("build") is not null, $"{name}: neither image nor build");
            foreach (var dependency in DependsOn(service))
            {
                Assert.True(services.ContainsKey(dependency), $"{name} depends on unknown service {dependency}");
            }
        }
    }

    [Fact]
    public void Compose_BuildsVigilFromCollectorDockerfile_AndTheDemoRunsTheSameImage()
    {
        var services = Services();
        var vigil = services["vigil"];
        var build = vigil.Need("build", "vigil");
        var context = build.Str("context")!;
        var dockerfile = Path.Combine(RepoPaths.Of(context), build.Str("dockerfile")!);

        Assert.Equal("collector/Dockerfile", Path.GetRelativePath(RepoPaths.Root, dockerfile).Replace('\\', '/'));
        Assert.True(File.Exists(dockerfile), $"{dockerfile} is missing");
        Assert.Equal(vigil.Str("image"), services["demo"].Str("image"));
        Assert.Equal(["--demo-emit", "http://otel-agent:4317"], services["demo"].Get("command").Strings());
        Assert.Equal(["127.0.0.1:4317:4317", "127.0.0.1:4318:4318", "127.0.0.1:9190:9190"], vigil.Get("ports").Strings());
    }

    [Fact]
    public void Compose_EveryBindMountSourceExistsInTheRepo()
    {
        var volumes = Compose.Value.Get("volumes").Entries().Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, service) in Services())
        {
            foreach (var (source, target) in Mounts(service))
            {
                if (source.StartsWith('.'))
                {
                    var path = RepoPaths.Of(source);
                    Assert.True(File.Exists(path) || Directory.Exists(path), $"{name}: bind mount {source} -> {target} has no source in the repo");
                }
                else
                {
                    Assert.True(volumes.Contains(source), $"{name}: named volume {source} is not declared under volumes:");
                }
            }
        }
    }

    [Theory]
    [InlineData("otel-agent", "--config=", "otel-config/collector/agent.yaml")]
    [InlineData("prometheus", "--config.file=", "otel-config/prometheus/prometheus.yml")]
    [InlineData("alertmanager", "--config.file=", "otel-config/alertmanager/alertmanager.yml")]
    [InlineData("vigil", "--config", "otel-config/vigil/vigil.yaml")]
    public void Compose_ConfigFlagsResolveThroughMountsToTheRepoFiles(string service, string flag, string expected)
    {
        var definition = Services()[service];
        // "--flag=VALUE" (Go tools) or "--flag", "VALUE" (vigil).
        var command = definition.Get("command").Strings().ToList();
        var at = command.FindIndex(a => a.StartsWith(flag, StringComparison.Ordinal));
        var containerPath = flag.EndsWith('=') ? command[at][flag.Length..] : command[at + 1];

        Assert.Equal(expected, HostPath(definition, containerPath));
    }

    [Fact]
    public void Grafana_ProvisioningAndDashboardPathsResolveThroughMounts()
    {
        var grafana = Services()["grafana"];

        Assert.Equal("otel-config/grafana/provisioning", HostPath(grafana, "/etc/grafana/provisioning"));
        var providers = Yaml.Load("otel-config/grafana/provisioning/dashboards/dashboards.yaml").Get("providers").Items().ToList();
        Assert.NotEmpty(providers);
        foreach (var provider in providers)
        {
            var dashboards = HostPath(grafana, provider.Need("options", "provider").Str("path")!);
            Assert.Equal("otel-config/grafana/dashboards", dashboards);
            Assert.Equal(["ai.json", "auth.json", "tenant.json"], Directory.EnumerateFiles(RepoPaths.Of(dashboards!), "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }

        var home = grafana.Get("environment").Str("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")!;
        Assert.True(File.Exists(RepoPaths.Of(HostPath(grafana, home)!)), $"home dashboard {home} does not resolve to a repo file");
    }

    [Fact]
    public void Grafana_DataSourcesPointAtComposeServices()
    {
        var sources = Yaml.Load("otel-config/grafana/provisioning/datasources/vigil.yaml").Get("datasources").Items().ToList();

        var vigil = Assert.Single(sources, s => s.Str("uid") == "vigil");
        Assert.Equal(("prometheus", "http://vigil:9190", "true"), (vigil.Str("type"), vigil.Str("url"), vigil.Str("isDefault")));
        Assert.All(sources, s => AssertServicePort(new Uri(s.Str("url")!).Authority, "grafana data source " + s.Str("name")));
    }

    [Fact]
    public void Prometheus_ScrapesVigilMetrics()
    {
        var jobs = Yaml.Load("otel-config/prometheus/prometheus.yml").Get("scrape_configs").Items().ToList();

        var vigil = Assert.Single(jobs, j => j.Str("job_name") == "vigil");
        Assert.Equal("/metrics", vigil.Str("metrics_path"));
        var target = Assert.Single(vigil.Get("static_configs").Items().SelectMany(c => c.Get("targets").Strings()));
        Assert.Equal("vigil:9190", target);
        AssertServicePort(target, "prometheus scrape target");
    }

    [Fact]
    public void Alertmanager_RoutesP1AndP2ToDefinedReceivers()
    {
        var config = Yaml.Load("otel-config/alertmanager/alertmanager.yml");
        var receivers = config.Get("receivers").Items().Select(r => r.Str("name")!).ToHashSet(StringComparer.Ordinal);
        var route = config.Need("route", "alertmanager.yml");
        var routes = route.Get("routes").Items().ToList();

        Assert.Contains(route.Str("receiver")!, receivers);
        foreach (var severity in new[] { "P1", "P2" })
        {
            var child = Assert.Single(routes, r => r.Get("matchers").Strings().Contains($"severity=\"{severity}\""));
            Assert.Contains(child.Str("receiver")!, receivers);
        }

        Assert.NotEqual(routes[0].Str("receiver"), routes[1].Str("receiver"));
    }

    [Theory]
    [InlineData("otel-config/collector/agent.yaml")]
    [InlineData("otel-config/collector/gateway.yaml")]
    public void Collector_PipelinesUseOnlyDefinedComponents(string file)
    {
        var config = Yaml.Load(file);
        var pipelines = config.Need("service", file).Need("pipelines", file).Entries().ToList();

        Assert.Contains(pipelines, p => p.Key == "metrics");
        foreach (var (name, pipeline) in pipelines)
        {
            foreach (var kind in new[] { "receivers", "processors", "exporters" })
            {
                var defined = config.Get(kind).Entries().Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
                foreach (var component in pipeline.Get(kind).Strings())
                {
                    Assert.True(defined.Contains(component), $"{file}: pipeline {name} uses {kind[..^1]} {component}, which is not defined");
                }
            }
        }
    }

    [Fact]
    public void Agent_ExportsToVigilsOtlpGrpcPort()
    {
        var exporters = Yaml.Load("otel-config/collector/agent.yaml").Get("exporters").Entries().ToList();

        var (_, vigil) = Assert.Single(exporters);
        Assert.Equal("vigil:4317", vigil.Str("endpoint"));
        AssertServicePort("vigil:4317", "agent exporter");
        Assert.Equal("true", vigil.Get("tls").Str("insecure"));
    }

    [Fact]
    public void Gateway_ShardsTenantsAcrossTwoVigilInstancesByTenantId()
    {
        var exporter = Yaml.Load("otel-config/collector/gateway.yaml").Get("exporters").Need("load_balancing", "gateway exporters");

        Assert.Equal("attributes", exporter.Str("routing_key"));
        Assert.Equal(["tenant.id"], exporter.Get("routing_attributes").Strings());
        Assert.Equal(2, exporter.Need("resolver", "load_balancing").Need("static", "resolver").Get("hostnames").Strings().Distinct().Count());
        Assert.Null(exporter.Get("protocol")?.Get("otlp")?.Get("endpoint"));
    }

    [Fact]
    public void Dockerfile_CopiesOnlyPathsThatExist_AndExposesVigilsPorts()
    {
        var lines = File.ReadAllLines(RepoPaths.Of("collector/Dockerfile"));

        foreach (var line in lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=", StringComparison.Ordinal)))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var source in parts[1..^1])
            {
                var path = RepoPaths.Of(source.TrimEnd('/'));
                Assert.True(File.Exists(path) || Directory.Exists(path), $"Dockerfile: {line} copies {source}, which is not in the repo");
            }
        }

        Assert.Contains("EXPOSE 4317 4318 9190", lines);
        Assert.Contains(lines, l => l.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:10.0", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:10.0", StringComparison.Ordinal));
    }

    [Fact]
    public void SdkEnvExample_SetsTheStandardVariables()
    {
        var variables = File.ReadAllLines(RepoPaths.Of("otel-config/sdk/env.example"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);

        Assert.Equal(
            ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_RESOURCE_ATTRIBUTES"],
            variables.Keys.Order(StringComparer.Ordinal));
        Assert.Matches(@"(^|,)service\.name=[^,]+", variables["OTEL_RESOURCE_ATTRIBUTES"]);
        Assert.Matches(@"(^|,)tenant\.id=[^,]+", variables["OTEL_RESOURCE_ATTRIBUTES"]);
        Assert.True(int.TryParse(variables["OTEL_METRIC_EXPORT_INTERVAL"], out _), "OTEL_METRIC_EXPORT_INTERVAL is in milliseconds");
    }

    private static Dictionary<string, YamlNode> Services() =>
        Compose.Value.Need("services", "docker-compose.yml").Entries().ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

    private static IEnumerable<string> DependsOn(YamlNode service) => service.Get("depends_on") switch
    {
        YamlSequenceNode list => list.Strings(),
        YamlMappingNode map => map.Entries().Select(e => e.Key),
        _ => [],
    };

    private static IEnumerable<(string Source, string Target)> Mounts(YamlNode service)
    {
        foreach (var volume in service.Get("volumes").Strings())
        {
            var parts = volume.Split(':');
            Assert.True(parts.Length is 2 or 3, $"volume '{volume}' is not SOURCE:TARGET[:MODE]");
            yield return (parts[0], parts[1]);
        }
    }

    // The repo path a container path comes from, through the service's bind mounts (longest target wins).
    private static string? HostPath(YamlNode service, string containerPath)
    {
        var mount = Mounts(service)
            .Where(m => m.Source.StartsWith('.') && (containerPath == m.Target || containerPath.StartsWith(m.Target.TrimEnd('/') + "/", StringComparison.Ordinal)))
            .OrderByDescending(m => m.Target.Length)
            .FirstOrDefault();
        Assert.True(mount != default, $"{containerPath} is not under any bind mount");
        var relative = mount.Source[2..] + containerPath[mount.Target.Length..];
        Assert.True(File.Exists(RepoPaths.Of(relative)) || Directory.Exists(RepoPaths.Of(relative)), $"{containerPath} -> {relative} does not exist");
        return relative;
    }

    // host:port names a compose service; Vigil's ports are the ones its image exposes.
    private static void AssertServicePort(string authority, string what)
    {
        var m = Regex.Match(authority, @"^([\w-]+):(\d+)$");
        Assert.True(m.Success, $"{what}: '{authority}' is not host:port");
        var (host, port) = (m.Groups[1].Value, m.Groups[2].Value);
        Assert.True(Services().ContainsKey(host) || host == "localhost", $"{what}: {host} is not a compose service");
        if (host == "vigil")
        {
            Assert.Contains(port, new[] { "4317", "4318", "9190" });
        }
    }
}
