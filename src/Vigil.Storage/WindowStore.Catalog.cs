using Vigil.Storage.Query;

namespace Vigil.Storage;

public sealed partial class WindowStore : IMetricCatalogReader
{
    /// <summary>From each metric's label index (decision 035): a metric of 1 M series costs its label count, not a walk.</summary>
    public IReadOnlyList<MetricLabelNames> MetricLabelNames()
    {
        var result = new List<MetricLabelNames>(_metrics.Count);
        foreach (var state in _metrics.Values)
        {
            if (state.LabelNames() is { } names)
            {
                result.Add(new MetricLabelNames(state.Name, state.Kind, state.Unit, names));
            }
        }

        return result;
    }
}
