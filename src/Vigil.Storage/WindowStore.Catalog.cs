using Vigil.Storage.Query;

namespace Vigil.Storage;

public sealed partial class WindowStore : IMetricCatalogReader
{
    /// <summary>
    /// From each metric's label index (decision 035): unscoped, a metric of 1 M series costs its label count, not a
    /// walk; scoped (a tenant's reader), the walk covers only the series the index selects.
    /// </summary>
    public IReadOnlyList<MetricLabelNames> MetricLabelNames(IReadOnlyList<LabelMatcher> scope)
    {
        var result = new List<MetricLabelNames>(_metrics.Count);
        foreach (var state in _metrics.Values)
        {
            if ((scope.Count == 0 ? state.LabelNames() : ScopedLabelNames(state, scope)) is { } names)
            {
                result.Add(new MetricLabelNames(state.Name, state.Kind, state.Unit, names));
            }
        }

        return result;
    }

    private static List<string>? ScopedLabelNames(MetricState state, IReadOnlyList<LabelMatcher> scope)
    {
        List<string>? names = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using (var selection = state.Select(scope))
        {
            while (selection.Next() is { } series)
            {
                names ??= [];
                foreach (var name in series.Labels.Keys)
                {
                    if (seen.Add(name))
                    {
                        names.Add(name);
                    }
                }
            }
        }

        return names;
    }
}
